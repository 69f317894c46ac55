"""The seccomp filter of the namespace level: a deny-list compiled once per process to BPF.

bubblewrap installs it (``--seccomp FD``) just before it starts the launcher, so it holds for
the launcher and everything the bot starts. Refused calls fail with EPERM: kernel interfaces a
bot has no use for and that widen the kernel's attack surface or cross the run's boundary
(keyrings are per uid and outlive runs; io_uring bypasses the other checks). ``clone3`` fails
with ENOSYS so that glibc falls back to ``clone``, whose namespace flags can be inspected.
Without libseccomp the filter cannot be built and the namespace level is unavailable.
"""

from __future__ import annotations

import contextlib
import errno
import tempfile
from functools import cache

REFUSED = (
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "bpf", "userfaultfd", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "mount", "umount2", "pivot_root", "unshare", "setns", "move_mount", "open_tree", "fsopen",
    "fsmount", "fspick", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
    "acct", "swapon", "swapoff", "reboot", "syslog", "quotactl", "quotactl_fd",
    "lookup_dcookie", "vhangup", "fanotify_init", "iopl", "ioperm", "settimeofday",
    "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
)
# clone(2) flags that create namespaces (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
# NEWNET, NEWTIME): refused, so a bot cannot stack namespaces of its own.
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000, 0x00000080)
# personality(2) flags that weaken memory protection (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC).
PERSONALITY_FLAGS = (0x0040000, 0x0400000)


def _build() -> bytes:
    import pyseccomp as seccomp  # loads libseccomp through ctypes: OSError when missing

    program = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # libseccomp >= 2.5
        # A binary tree rather than a list: every syscall the bot makes passes the filter.
        program.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)
    refuse = seccomp.ERRNO(errno.EPERM)
    for name in REFUSED:
        try:
            program.add_rule(refuse, name)
        except (OSError, ValueError, RuntimeError):  # a call this architecture does not have
            continue
    program.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        program.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    for flag in PERSONALITY_FLAGS:
        program.add_rule(refuse, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    with tempfile.TemporaryFile() as sink:
        program.export_bpf(sink)
        sink.seek(0)
        return sink.read()


@cache
def compiled_filter() -> bytes:
    """The filter as BPF bytes for bubblewrap (built on first use); OSError without libseccomp
    (a failure is not cached: the next call tries again)."""
    return _build()
