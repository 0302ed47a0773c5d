/* Library error codes and the per-thread message that names file, line and
 * expectation (architecture.md "Errors"). Library code never prints or exits. */
#ifndef DS_ERROR_H
#define DS_ERROR_H

enum {
    DS_OK = 0,
    DS_EIO = -1,        /* open/read/write/rename failed */
    DS_EFORMAT = -2,    /* input does not follow its format */
    DS_EINVAL = -3,     /* bad argument or value */
    DS_ENOMEM = -4,     /* allocation failed */
    DS_ENOTSUP = -5,    /* valid input we do not handle (yet) */
    DS_EMISMATCH = -6,  /* checkpoint/model name or shape mismatch */
};

/* Records a printf-style message and returns `code`, so callers write
 * `return ds_err(DS_EFORMAT, "%s:%d: expected ...", path, line);` */
int ds_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like ds_err, with ": strerror(errno)" appended. */
int ds_err_errno(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ds_errmsg(void);
void ds_err_clear(void);

#endif
