#ifndef RG_ADMIN_ADMIN_H
#define RG_ADMIN_ADMIN_H
#endif
