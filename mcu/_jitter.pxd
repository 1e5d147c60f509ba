# The C layout of mcu._jitter.AudioJitterBuffer, so that mcu._rtp's audio receiver files packets
# into it without a Python call. Final: its C methods are called directly, not through a vtable.
cimport cython
from libc.stdint cimport int64_t


@cython.final
cdef class AudioJitterBuffer:
    # configuration: the objects given (returned by the attributes) and C copies
    cdef object _clock_rate_obj, _frame_duration_obj, _min_delay_obj, _max_delay_obj
    cdef double _clock, _fd, _min, _max
    cdef Py_ssize_t _capacity
    # packets: n used slots of capacity + 1
    cdef int64_t *_seqs
    cdef int64_t *_tss
    cdef list _payloads
    cdef Py_ssize_t _n
    # stream state
    cdef bint _has_ssrc
    cdef int64_t _ssrc
    cdef bint _seq_has_last, _ts_has_last
    cdef int64_t _seq_last, _ts_last
    cdef bint _has_next
    cdef int64_t _next
    cdef double _first_arrival
    cdef int64_t _empty_lost
    cdef bint _grow
    cdef double _jitter
    cdef bint _has_transit
    cdef double _transit
    # counters (AudioJitterStats fields)
    cdef int64_t _received, _played, _lost, _late, _inserted, _duplicates, _dropped, _resets
    cdef object _stats


    cdef void _reset(self, bint has_ssrc, int64_t ssrc)
    cdef double _target(self)
    cdef Py_ssize_t _find(self, int64_t seq)
    cdef Py_ssize_t _argmin(self)
    cdef void _remove(self, Py_ssize_t i)
    cdef int64_t _unwrap_seq(self, int64_t value)
    cdef int64_t _unwrap_ts(self, int64_t value)
    cdef int _put(self, int64_t ssrc, int64_t seq16, int64_t timestamp, object payload,
                  double now) except -1
