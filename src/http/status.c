#include "http/status.h"

#include <errno.h>

#include "core/err.h"

const char *rg_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int rg_status_of(int err)
{
    switch (err) {
    case RG_EURI:
        return 414;
    case RG_EHEAD:
        return 431;
    case RG_EBODY:
        return 413;
    case RG_EPROTO:
        return 400;
    case RG_EVERSION:
        return 505;
    case RG_EEXPECT:
        return 417;
    case RG_EMETHOD:
        return 405;
    case RG_ENOROUTE:
        return 404;
    case RG_EPLUGIN:
        return 500;
    case -ENOMEM:
        return 503;
    case -ETIMEDOUT:
        return 504;
    default:
        return 502;
    }
}
