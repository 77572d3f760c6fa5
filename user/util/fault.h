/*
 * Fault injection for tests: a step of the change path (a commit's steps,
 * a reader's settling of an interrupted apply) asks the hook whether to fail
 * there, and the hook may pause.  The production xlb never sets the hook and
 * reads nothing from its environment for it; test binaries and the test-only
 * build/xlb-faults link tests/faults.c, which installs one driven by
 * XLB_FAIL_AT, XLB_FAIL_AT_FILE and XLB_PAUSE_AT.
 */
#ifndef XLB_FAULT_H
#define XLB_FAULT_H

/* 0, or the -errno (with xlb_errf's message) that the step fails with. */
typedef int (*xlb_fault_fn)(const char *step);
extern xlb_fault_fn xlb_fault_hook;

static inline int xlb_fault(const char *step)
{
	return xlb_fault_hook ? xlb_fault_hook(step) : 0;
}

#endif
