/*
 * A BFCP floor participant built on Debian's libre (baresip's library, 1.1.0): the independent
 * peer of tests/e2e/test_e2e_bfcp.py. Over UDP, version 2, it says Hello, requests the floor,
 * acknowledges every FloorStatus / FloorRequestStatus the server sends, holds the floor for a
 * while, releases it and exits 0. It prints one line per event for the test to read.
 *
 * usage: bfcp_floor_client HOST PORT CONFID USERID FLOORID HOLD_MS
 * exit: 0 granted and released; 2 denied / error / timeout.
 */
/* libre's re_types.h wants the platform's fixed-width types announced (its build defines this) */
#define HAVE_INTTYPES_H 1
#include <inttypes.h>
#include <re.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct bfcp_conn *bc;
static struct sa dst;
static uint32_t confid;
static uint16_t userid, floorid, floorreqid;
static uint32_t hold_ms;
static struct tmr hold_tmr, deadline_tmr;
static int result = 2;

static void say(const char *what, int value)
{
	printf("%s %d\n", what, value);
	fflush(stdout);
}

static int request_status(const struct bfcp_msg *msg, uint16_t *reqid)
{
	struct bfcp_attr *info, *overall, *status;

	info = bfcp_msg_attr(msg, BFCP_FLOOR_REQ_INFO);
	if (!info)
		return -1;
	if (reqid)
		*reqid = info->v.floorreqid;
	overall = bfcp_attr_subattr(info, BFCP_OVERALL_REQ_STATUS);
	if (!overall)
		return -1;
	status = bfcp_attr_subattr(overall, BFCP_REQUEST_STATUS);
	return status ? (int)status->v.reqstatus.status : -1;
}

static void released_h(int err, const struct bfcp_msg *msg, void *arg)
{
	(void)arg;
	if (err || !msg) {
		say("ERROR release", err);
		re_cancel();
		return;
	}
	say("RELEASE_STATUS", request_status(msg, NULL));
	result = request_status(msg, NULL) == BFCP_RELEASED ? 0 : 2;
	re_cancel();
}

static void hold_done(void *arg)
{
	(void)arg;
	bfcp_request(bc, &dst, BFCP_VER2, BFCP_FLOOR_RELEASE, confid, userid, released_h, NULL, 1,
		     BFCP_FLOOR_REQUEST_ID | BFCP_MANDATORY, 0, &floorreqid);
}

static void granted(void)
{
	say("GRANTED", floorreqid);
	tmr_start(&hold_tmr, hold_ms, hold_done, NULL);
}

static void floor_request_h(int err, const struct bfcp_msg *msg, void *arg)
{
	int status;

	(void)arg;
	if (err || !msg) {
		say("ERROR floor_request", err);
		re_cancel();
		return;
	}
	if (msg->prim == BFCP_ERROR) {
		struct bfcp_attr *code = bfcp_msg_attr(msg, BFCP_ERROR_CODE);
		say("ERROR_CODE", code ? (int)code->v.errcode.code : -1);
		re_cancel();
		return;
	}
	status = request_status(msg, &floorreqid);
	say("REQUEST_STATUS", status);
	if (status == BFCP_GRANTED)
		granted();
	else if (status == BFCP_DENIED) {
		result = 3;
		re_cancel();
	}
}

static void hello_h(int err, const struct bfcp_msg *msg, void *arg)
{
	(void)arg;
	if (err || !msg || msg->prim != BFCP_HELLO_ACK) {
		say("ERROR hello", err ? err : (msg ? (int)msg->prim : -1));
		re_cancel();
		return;
	}
	say("HELLO_ACK", bfcp_msg_attr(msg, BFCP_SUPPORTED_PRIMS) != NULL);
	bfcp_request(bc, &dst, BFCP_VER2, BFCP_FLOOR_REQUEST, confid, userid, floor_request_h, NULL, 1,
		     BFCP_FLOOR_ID | BFCP_MANDATORY, 0, &floorid);
}

/* what the server starts: FloorStatus to everyone, FloorRequestStatus to the requester */
static void recv_h(const struct bfcp_msg *msg, void *arg)
{
	int status;

	(void)arg;
	switch (msg->prim) {

	case BFCP_FLOOR_STATUS:
		say("FLOOR_STATUS", bfcp_msg_attr(msg, BFCP_FLOOR_REQ_INFO) ? request_status(msg, NULL) : 0);
		bfcp_reply(bc, msg, BFCP_FLOOR_STATUS_ACK, 0);
		break;

	case BFCP_FLOOR_REQUEST_STATUS:
		status = request_status(msg, NULL);
		say("NOTIFY_REQUEST_STATUS", status);
		bfcp_reply(bc, msg, BFCP_FLOOR_REQ_STATUS_ACK, 0);
		if (status == BFCP_GRANTED && !tmr_isrunning(&hold_tmr))
			granted();
		break;

	default:
		say("UNEXPECTED", msg->prim);
		break;
	}
}

static void deadline(void *arg)
{
	(void)arg;
	say("TIMEOUT", 0);
	re_cancel();
}

int main(int argc, char *argv[])
{
	struct sa laddr;
	int err;

	if (argc != 7) {
		fprintf(stderr, "usage: %s HOST PORT CONFID USERID FLOORID HOLD_MS\n", argv[0]);
		return 2;
	}
	confid = (uint32_t)strtoul(argv[3], NULL, 10);
	userid = (uint16_t)atoi(argv[4]);
	floorid = (uint16_t)atoi(argv[5]);
	hold_ms = (uint32_t)atoi(argv[6]);

	err = libre_init();
	if (err)
		return 2;
	tmr_init(&hold_tmr);
	tmr_init(&deadline_tmr);
	sa_set_str(&dst, argv[1], (uint16_t)atoi(argv[2]));
	sa_set_str(&laddr, "127.0.0.1", 0);
	err = bfcp_listen(&bc, BFCP_UDP, &laddr, NULL, recv_h, NULL);
	if (err) {
		say("ERROR listen", err);
		return 2;
	}
	tmr_start(&deadline_tmr, 15000 + hold_ms, deadline, NULL);
	err = bfcp_request(bc, &dst, BFCP_VER2, BFCP_HELLO, confid, userid, hello_h, NULL, 0);
	if (err) {
		say("ERROR request", err);
		return 2;
	}
	re_main(NULL);
	say("EXIT", result);
	tmr_cancel(&hold_tmr);
	tmr_cancel(&deadline_tmr);
	mem_deref(bc);
	libre_close();
	return result;
}
