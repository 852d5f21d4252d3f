#ifndef RG_ADMIN_FWD_H
#define RG_ADMIN_FWD_H
#endif
