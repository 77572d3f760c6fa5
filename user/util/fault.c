/* The fault hook: none in production (see fault.h). */
#include <stddef.h>
#include "fault.h"

xlb_fault_fn xlb_fault_hook = NULL;
