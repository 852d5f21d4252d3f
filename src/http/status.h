/* HTTP status reason phrases (RFC 9110 §15). */
#ifndef RG_HTTP_STATUS_H
#define RG_HTTP_STATUS_H

/* The reason phrase for @status, or "Unknown". Thread: any. */
const char *rg_status_reason(int status);

#endif
