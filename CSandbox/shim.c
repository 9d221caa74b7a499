#define _GNU_SOURCE
#include "CSandbox.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(apus_bpf_instruction) == sizeof(struct sock_filter), "sock_filter layout");
_Static_assert(offsetof(struct seccomp_data, nr) == APUS_SECCOMP_DATA_NR, "seccomp_data.nr");
_Static_assert(offsetof(struct seccomp_data, arch) == APUS_SECCOMP_DATA_ARCH, "seccomp_data.arch");

int apus_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

long apus_install_seccomp_filter(const apus_bpf_instruction *program, uint16_t count) {
    struct sock_fprog fprog = { .len = count, .filter = (struct sock_filter *)program };
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
}

int apus_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
