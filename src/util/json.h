/* json.h: writing JSON strings and numbers (output only). */
#ifndef JM_JSON_H
#define JM_JSON_H

#include <stdio.h>

/* Write s as a quoted JSON string with escapes; NULL writes null. */
void jm_json_str(FILE *f, const char *s);
/* Write a finite number in shortest round-trip form; NaN/Inf as null. */
void jm_json_num(FILE *f, double v);

#endif
