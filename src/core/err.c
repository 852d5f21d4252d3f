/* Names for every error code of the one rule (core/err.h). */
#include "core/err.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

static const struct {
    int code;
    const char *text;
} names[] = {
    {RG_RAFT_ENOTLEADER, "not the leader"},
    {RG_RAFT_EUNKNOWN, "outcome unknown (leadership lost)"},
    {RG_RAFT_ESHUTDOWN, "shutting down"},
    {RG_RAFT_EBUSY, "a membership change or transfer is running"},
    {RG_FWD_ENOTSENT, "could not reach the leader: nothing was sent"},
    {RG_FWD_EUNKNOWN, "forwarded, then failed: outcome unknown"},
    {RG_EURI, "request target too long"},
    {RG_EHEAD, "request head too large"},
    {RG_EBODY, "request body too large"},
    {RG_EPROTO, "malformed HTTP message"},
    {RG_EUPSTREAM, "invalid response from the upstream"},
    {RG_ERESPBODY, "response body too large to buffer"},
    {RG_EVERSION, "HTTP version not supported"},
    {RG_EEXPECT, "expectation not supported"},
    {RG_EMETHOD, "method not served"},
    {RG_ENOROUTE, "no route matched"},
    {RG_EPLUGIN, "a plugin failed"},
    {RG_ERESPHEAD, "response head too large"},
};

const char *rg_strerror(int err)
{
    static _Thread_local char unknown[32];

    if (err == 0)
        return "success";
    if (err > -4096 && err < 0)
        return uv_strerror(err); /* -errno and UV_E* alike */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].code == err)
            return names[i].text;
    }
    snprintf(unknown, sizeof(unknown), "unknown error %d", err);
    return unknown;
}
