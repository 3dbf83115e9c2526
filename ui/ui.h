/*
 * ui.h: the entry to the terminal workbench (what `jianmo` with no
 * arguments opens on a terminal).
 *
 *   jm_ui_available() ── stdin and stdout terminals, TERM set and not dumb
 *   jm_ui_run(home)   ── ncursesw: app (app.h) ◀─keys── term ──frames─▶ screen
 *                        until the person quits; the terminal is restored on
 *                        every way out, a crash signal included
 */
#ifndef JM_UI_H
#define JM_UI_H

#include "util/err.h"

/* 1 when the workbench can run here; 0: print the text summary instead. */
int jm_ui_available(void);

/* Run the workbench on the store at home (NULL: the default).  Returns the
 * exit status; on failure before the screen opens, err says why. */
int jm_ui_run(const char *home, jm_err *err);

#endif
