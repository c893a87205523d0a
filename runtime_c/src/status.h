/* Building statuses inside the runtime. */
#ifndef TTP_STATUS_H_
#define TTP_STATUS_H_

#include "ttpack/runtime.h"

#if defined(__GNUC__)
#define TTP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TTP_PRINTF(a, b)
#endif

/* Returns a status with a printf-formatted message (never NULL, even when
   out of memory: then a static status is returned). */
ttp_status* ttp_make_status(ttp_status_code code, const char* fmt, ...) TTP_PRINTF(2, 3);
/* Prefixes an existing status's message with context; returns it. */
ttp_status* ttp_annotate(ttp_status* status, const char* fmt, ...) TTP_PRINTF(2, 3);

#define TTP_RETURN_IF_ERROR(expr)      \
  do {                                 \
    ttp_status* ttp_status_ = (expr);  \
    if (ttp_status_) return ttp_status_; \
  } while (0)

#endif /* TTP_STATUS_H_ */
