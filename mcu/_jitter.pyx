# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: extra_compile_args = -ffp-contract=off
"""The audio jitter buffer in C: mcu.rtp.jitterbuffer.AudioJitterBuffer without the dicts.

Behaves exactly like the Python class (its specification, checked against it by
tests/rtp/test_rtp_audio_jitter_c.py): same unwrapping, resets, late/duplicate/overflow rules,
start, shrink, grow and silence rules, and the same floating point operations in the same order
(so `jitter` and `target_delay` are bit-identical). -ffp-contract=off keeps the compiler from
fusing a multiply and an add into one FMA, which would round differently.

Packets sit in fixed arrays of capacity + 1 slots (extended seq, timestamp, payload); the set is
small (2 * max_delay / frame_duration), so membership, minimum and removal are linear scans.
Extended sequence numbers and timestamps are int64 (they may go below 0 or beyond 2**32).

`stats` is an AudioJitterStats, refreshed from C counters each time the attribute is read: read
it again rather than keeping the object for later (assigning a new AudioJitterStats loads it).
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject, PyTypeObject
from libc.math cimport fabs
from libc.stdint cimport int64_t

from mcu.rtp.jitterbuffer import (
    DEFAULT_FRAME_DURATION,
    DEFAULT_MAX_DELAY,
    DEFAULT_MIN_DELAY,
    JITTER_MULTIPLIER,
    MAX_CONSECUTIVE_LOST,
    RESET_SEQUENCE_JUMP,
    AudioFrame,
    AudioJitterStats,
)

cdef double _K = JITTER_MULTIPLIER
cdef int64_t _MAX_LOST = MAX_CONSECUTIVE_LOST
cdef int64_t _JUMP = RESET_SEQUENCE_JUMP
cdef object _Frame = AudioFrame
cdef object _Stats = AudioJitterStats

# AudioFrame is a slots dataclass; its generated __init__ (a Python function call) costs more
# than the rest of pop. When the class is the plain dataclass (no metaclass, no __new__, no
# __post_init__, object slots), fill the slots directly; the self-test below checks the result
# equals AudioFrame(...), else every frame is built by calling the class.
cdef extern from *:
    """
    #include "structmember.h"
    static PyObject *jb_alloc(PyTypeObject *t) { return t->tp_alloc(t, 0); }
    static Py_ssize_t jb_member_offset(PyObject *d) {
        PyMemberDef *m;
        if (Py_TYPE(d) != &PyMemberDescr_Type) return -1;
        m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != 16 /* T_OBJECT_EX */ || (m->flags & 1 /* READONLY */)) return -1;
        return m->offset;
    }
    static void jb_set_slot(PyObject *o, Py_ssize_t off, PyObject *v) {
        PyObject **p = (PyObject **)((char *)o + off);
        Py_INCREF(v);
        Py_XSETREF(*p, v);
    }
    """
    object jb_alloc(PyTypeObject *t)
    Py_ssize_t jb_member_offset(PyObject *d)
    void jb_set_slot(PyObject *o, Py_ssize_t off, PyObject *v)

_FIELDS = ("sequence", "timestamp", "payload", "lost", "inserted")
cdef bint _fast_frames = False
cdef object _TRUE = True
cdef object _FALSE = False
cdef Py_ssize_t _off_seq, _off_ts, _off_payload, _off_lost, _off_inserted


cdef inline object _frame(object seq, object timestamp, object payload, bint lost, bint inserted):
    if not _fast_frames:
        return _Frame(seq, timestamp, payload, lost, inserted)
    cdef object f = jb_alloc(<PyTypeObject *> _Frame)
    cdef PyObject *o = <PyObject *> f
    jb_set_slot(o, _off_seq, <PyObject *> seq)
    jb_set_slot(o, _off_ts, <PyObject *> timestamp)
    jb_set_slot(o, _off_payload, <PyObject *> payload)
    jb_set_slot(o, _off_lost, <PyObject *> (_TRUE if lost else _FALSE))
    jb_set_slot(o, _off_inserted, <PyObject *> (_TRUE if inserted else _FALSE))
    return f


def _setup_fast_frames(enable=True):
    """Use the direct slot fill if AudioFrame allows it (returns whether it is used)."""
    global _fast_frames, _off_seq, _off_ts, _off_payload, _off_lost, _off_inserted
    _fast_frames = False
    cls = AudioFrame
    if (not enable or type(cls) is not type or cls.__new__ is not object.__new__
            or hasattr(cls, "__post_init__") or getattr(cls, "__slots__", None) != _FIELDS
            or tuple(getattr(cls, "__dataclass_fields__", ())) != _FIELDS
            or cls.__setattr__ is not object.__setattr__):
        return False
    offsets = []
    for name in _FIELDS:
        d = cls.__dict__.get(name)
        if d is None or jb_member_offset(<PyObject *> d) < 0:
            return False
        offsets.append(jb_member_offset(<PyObject *> d))
    _off_seq, _off_ts, _off_payload, _off_lost, _off_inserted = offsets
    _fast_frames = True
    samples = [(5, 7, b"ab", False, False), (-3, 0, b"", True, False), (1 << 40, 0, b"", True, True)]
    for args in samples:
        a, b = _frame(args[0], args[1], args[2], args[3], args[4]), cls(*args)
        if type(a) is not type(b) or a != b or repr(a) != repr(b):
            _fast_frames = False
            return False
    return True


_setup_fast_frames()

cdef int64_t _SEQ_MOD = 1 << 16
cdef int64_t _SEQ_HALF = 1 << 15
cdef int64_t _TS_MOD = 1 << 32
cdef int64_t _TS_HALF = 1 << 31


cdef class AudioJitterBuffer:  # attributes and C methods declared in mcu/_jitter.pxd
    def __cinit__(self, *args, **kwargs):
        self._seqs = NULL
        self._tss = NULL

    def __dealloc__(self):
        PyMem_Free(self._seqs)
        PyMem_Free(self._tss)

    def __init__(
        self,
        clock_rate=8000,
        frame_duration=DEFAULT_FRAME_DURATION,
        min_delay=DEFAULT_MIN_DELAY,
        max_delay=DEFAULT_MAX_DELAY,
    ):
        if not 0 <= min_delay <= max_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        self.clock_rate = clock_rate
        self.frame_duration = frame_duration
        self.min_delay = min_delay
        self.max_delay = max_delay
        capacity = max(2, round(max_delay / frame_duration) * 2)  # Python round: half to even
        cdef Py_ssize_t cap = capacity
        cdef int64_t *seqs = <int64_t *> PyMem_Malloc((cap + 1) * sizeof(int64_t))
        cdef int64_t *tss = <int64_t *> PyMem_Malloc((cap + 1) * sizeof(int64_t))
        if seqs == NULL or tss == NULL:
            PyMem_Free(seqs)
            PyMem_Free(tss)
            raise MemoryError()
        PyMem_Free(self._seqs)
        PyMem_Free(self._tss)
        self._seqs = seqs
        self._tss = tss
        self._capacity = cap
        self._payloads = [None] * (cap + 1)
        self._n = 0
        self._received = self._played = self._lost = self._late = 0
        self._inserted = self._duplicates = self._dropped = self._resets = 0
        self._stats = _Stats()
        self._reset(False, 0)

    cdef void _reset(self, bint has_ssrc, int64_t ssrc):
        cdef Py_ssize_t i
        self._has_ssrc = has_ssrc
        self._ssrc = ssrc
        self._seq_has_last = False
        self._seq_last = 0
        for i in range(self._n):
            self._payloads[i] = None
        self._n = 0
        self._has_next = False
        self._next = 0
        self._first_arrival = 0.0
        self._empty_lost = 0
        self._grow = False
        self._jitter = 0.0
        self._has_transit = False
        self._transit = 0.0
        self._ts_has_last = False
        self._ts_last = 0

    # ------------------------------------------------------------ configuration

    @property
    def clock_rate(self):
        return self._clock_rate_obj

    @clock_rate.setter
    def clock_rate(self, value):
        self._clock = value
        self._clock_rate_obj = value

    @property
    def frame_duration(self):
        return self._frame_duration_obj

    @frame_duration.setter
    def frame_duration(self, value):
        self._fd = value
        self._frame_duration_obj = value

    @property
    def min_delay(self):
        return self._min_delay_obj

    @min_delay.setter
    def min_delay(self, value):
        self._min = value
        self._min_delay_obj = value

    @property
    def max_delay(self):
        return self._max_delay_obj

    @max_delay.setter
    def max_delay(self, value):
        self._max = value
        self._max_delay_obj = value

    # ------------------------------------------------------------ state

    @property
    def stats(self):
        s = self._stats
        s.received = self._received
        s.played = self._played
        s.lost = self._lost
        s.late = self._late
        s.inserted = self._inserted
        s.duplicates = self._duplicates
        s.dropped = self._dropped
        s.resets = self._resets
        return s

    @stats.setter
    def stats(self, value):
        self._received = value.received
        self._played = value.played
        self._lost = value.lost
        self._late = value.late
        self._inserted = value.inserted
        self._duplicates = value.duplicates
        self._dropped = value.dropped
        self._resets = value.resets
        self._stats = value

    @property
    def jitter(self):
        return self._jitter

    @property
    def target_delay(self):
        return self._target()

    @property
    def depth(self):
        return self._n

    cdef double _target(self):
        cdef double target = self._fd + _K * self._jitter
        # min(max_delay, max(min_delay, target)) with Python's builtin rules (first wins ties)
        if not (target > self._min):
            target = self._min
        if not (target < self._max):
            target = self._max
        return target

    cdef Py_ssize_t _find(self, int64_t seq):
        cdef Py_ssize_t i
        cdef int64_t *seqs = self._seqs
        for i in range(self._n):
            if seqs[i] == seq:
                return i
        return -1

    cdef Py_ssize_t _argmin(self):
        cdef Py_ssize_t i, best = 0
        cdef int64_t *seqs = self._seqs
        for i in range(1, self._n):
            if seqs[i] < seqs[best]:
                best = i
        return best

    cdef void _remove(self, Py_ssize_t i):
        cdef Py_ssize_t last = self._n - 1
        cdef list payloads = self._payloads
        if i != last:
            self._seqs[i] = self._seqs[last]
            self._tss[i] = self._tss[last]
            payloads[i] = payloads[last]
        payloads[last] = None
        self._n = last

    # ------------------------------------------------------------ packets in

    def put(self, packet, double now):
        self._put(packet.ssrc, packet.sequence_number, packet.timestamp, packet.payload, now)

    def put_raw(self, int64_t ssrc, int64_t seq16, int64_t timestamp, payload, double now):
        self._put(ssrc, seq16, timestamp, payload, now)

    cdef int64_t _unwrap_seq(self, int64_t value):
        cdef int64_t delta, ext
        if not self._seq_has_last:
            self._seq_has_last = True
            self._seq_last = value
            return value
        delta = (value - self._seq_last) & (_SEQ_MOD - 1)  # == Python's % for a power of two
        if delta >= _SEQ_HALF:
            delta -= _SEQ_MOD
        ext = self._seq_last + delta
        if delta > 0:
            self._seq_last = ext
        return ext

    cdef int64_t _unwrap_ts(self, int64_t value):
        cdef int64_t delta, ext
        if not self._ts_has_last:
            self._ts_has_last = True
            self._ts_last = value
            return value
        delta = (value - self._ts_last) & (_TS_MOD - 1)
        if delta >= _TS_HALF:
            delta -= _TS_MOD
        ext = self._ts_last + delta
        if delta > 0:
            self._ts_last = ext
        return ext

    cdef int _put(self, int64_t ssrc, int64_t seq16, int64_t timestamp, object payload,
                  double now) except -1:
        cdef int64_t seq, ts, oldest
        cdef bint has_nxt
        cdef int64_t nxt, gap
        cdef double transit
        cdef Py_ssize_t i, n
        if not self._has_ssrc or ssrc != self._ssrc:
            if self._has_ssrc:
                self._resets += 1
            self._reset(True, ssrc)
        seq = self._unwrap_seq(seq16)
        has_nxt = self._has_next
        nxt = self._next
        if has_nxt:
            gap = seq - nxt
            if gap < 0:
                gap = -gap
            if gap > _JUMP:
                self._resets += 1
                self._reset(True, ssrc)
                seq = self._unwrap_seq(seq16)
                has_nxt = False
        self._received += 1
        # interarrival jitter in seconds (RFC 3550 A.8 with arrival in media units)
        ts = self._unwrap_ts(timestamp)
        if self._clock == 0.0:
            raise ZeroDivisionError("division by zero")  # as Python's ts / clock_rate
        transit = now - <double> ts / self._clock
        if self._has_transit:
            self._jitter += (fabs(transit - self._transit) - self._jitter) / 16.0
        self._has_transit = True
        self._transit = transit
        if has_nxt and seq < nxt:
            self._late += 1
            self._grow = True
            return 0
        if self._find(seq) >= 0:
            self._duplicates += 1
            return 0
        n = self._n
        if n == 0 and not has_nxt:
            self._first_arrival = now
        self._seqs[n] = seq
        self._tss[n] = timestamp
        self._payloads[n] = payload
        self._n = n + 1
        if self._n > self._capacity:
            i = self._argmin()
            oldest = self._seqs[i]
            self._remove(i)
            self._dropped += 1
            if has_nxt and oldest >= nxt:
                self._next = oldest + 1
        return 0

    # ------------------------------------------------------------ frames out

    def pop(self, double now):
        cdef Py_ssize_t i
        cdef int64_t seq
        cdef double buffered
        if not self._has_next:
            if self._n == 0 or now - self._first_arrival < self._target():
                return None
            self._next = self._seqs[self._argmin()]
            self._has_next = True
            self._empty_lost = 0
        # Shrink when more is buffered than the target needs (jitter went down).
        buffered = <double> self._n * self._fd
        if buffered > self._target() + 2.0 * self._fd:
            i = self._find(self._next)
            if i >= 0:
                self._remove(i)
                self._next += 1
                self._dropped += 1
        seq = self._next
        i = self._find(seq)
        if i >= 0:
            payload = self._payloads[i]
            timestamp = self._tss[i]
            self._remove(i)
            self._next = seq + 1
            self._empty_lost = 0
            self._played += 1
            return _frame(seq, timestamp, payload, False, False)
        if self._n == 0:
            self._empty_lost += 1
            if self._empty_lost > _MAX_LOST:
                # The sender went quiet (hold, DTX): stop concealing and rebuffer later.
                self._has_next = False
                self._first_arrival = now
                return None
        # Late arrivals showed the delay is too short: hold this slot one tick longer.
        if self._grow and buffered + self._fd <= self._max:
            self._grow = False
            self._inserted += 1
            return _frame(seq, 0, b"", True, True)
        self._next = seq + 1
        self._lost += 1
        return _frame(seq, 0, b"", True, False)
