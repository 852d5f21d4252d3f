/* HTTP status reason phrases (RFC 9110 §15). */
#ifndef RG_HTTP_STATUS_H
#define RG_HTTP_STATUS_H

/* The reason phrase for @status, or "Unknown". Thread: any. */
const char *rg_status_reason(int status);

/* The status that tells a client about error @err (core/err.h): the one
 * place a code becomes an HTTP status. RG_EURI 414, RG_EHEAD 431, RG_EBODY
 * 413, RG_EPROTO 400, RG_EVERSION 505, RG_EEXPECT 417, RG_EMETHOD 405,
 * RG_ENOROUTE 404, RG_EPLUGIN 500, -ENOMEM 503, -ETIMEDOUT 504; anything
 * else (RG_EUPSTREAM, RG_ERESPBODY, RG_ERESPHEAD, an upstream socket's
 * errno) 502. Thread: any. */
int rg_status_of(int err);

#endif
