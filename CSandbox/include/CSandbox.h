#ifndef APUS_CSANDBOX_H
#define APUS_CSANDBOX_H

#include <spawn.h>
#include <sys/xattr.h>  // getxattr, for WorkerCgroups (not in Swift's Glibc module)
#include <stdint.h>

/// The worker's lock-down and spawn calls that Swift cannot make itself (variadic, raw or _GNU_SOURCE-only).

/// PR_SET_NO_NEW_PRIVS: 0, or -1 with errno set.
int apus_set_no_new_privs(void);

/// One classic BPF instruction, laid out as struct sock_filter.
typedef struct {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} apus_bpf_instruction;

/// Installs `count` instructions as a seccomp filter on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC):
/// 0, or -1 with errno set (a positive result names a thread that could not be synchronized).
long apus_install_seccomp_filter(const apus_bpf_instruction *program, uint16_t count);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34; declared only under _GNU_SOURCE): the child closes every
/// descriptor from `lowest` up.
int apus_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// Offsets into struct seccomp_data, and the constants a filter needs.
enum {
    APUS_SECCOMP_DATA_NR = 0,
    APUS_SECCOMP_DATA_ARCH = 4,
    APUS_AUDIT_ARCH_X86_64 = 0xC000003E,
};

#endif
