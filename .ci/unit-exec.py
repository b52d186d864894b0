#!/usr/bin/python3
"""Runs a service the way systemd runs it from its unit file, on a machine
where systemd is not PID 1 (.ci/deb.sh).

  unit-exec.py start UNIT --log FILE [--notify-socket PATH]
      execs [Service] ExecStart as User=/Group=, in WorkingDirectory=, with
      Environment= (plus what systemd adds: PATH, HOME, USER, LOGNAME,
      SHELL, NOTIFY_SOCKET and JOURNAL_STREAM naming FILE, which stands in
      for the journal), LimitNOFILE=, UMask=, NoNewPrivileges=, stdin from
      /dev/null and stdout/stderr to FILE. Run it under `unshare -m` and the
      file system is sandboxed as ProtectSystem=strict, ReadWritePaths=,
      PrivateTmp= and ProtectHome= say; the system call filter is the one
      SystemCallFilter=, SystemCallErrorNumber=, RestrictAddressFamilies=
      and MemoryDenyWriteExecute= describe, built with libseccomp from
      `systemd-analyze syscall-filter`. The process keeps its pid through
      the exec, so the caller's $! is the service's MAINPID.
  unit-exec.py reload UNIT MAINPID
      runs ExecReload= with $MAINPID replaced.
  unit-exec.py get UNIT KEY
      prints the [Service] setting KEY (its last value).

Not reproduced here (they need systemd itself): PrivateDevices,
PrivateUsers, ProtectProc, ProcSubset, ProtectKernel*, ProtectClock,
ProtectHostname, ProtectControlGroups, RestrictNamespaces, RestrictRealtime,
RestrictSUIDSGID, LockPersonality, KeyringMode, RemoveIPC. Empty
CapabilityBoundingSet= and AmbientCapabilities= need nothing here: a
service run as a user other than root has no capabilities.
"""

import ctypes
import errno
import grp
import os
import pwd
import resource
import shlex
import subprocess
import sys

HANDLED = {
    "Type", "User", "Group", "WorkingDirectory", "Environment", "ExecStart",
    "ExecReload", "Restart", "RestartSec", "TimeoutStopSec", "LimitNOFILE",
    "UMask", "NoNewPrivileges", "ProtectSystem", "ReadWritePaths",
    "PrivateTmp", "ProtectHome", "SystemCallFilter", "SystemCallErrorNumber",
    "SystemCallArchitectures", "RestrictAddressFamilies",
    "MemoryDenyWriteExecute",
}


def parse_unit(path):
    """The [Service] section: key -> list of values, in order."""
    section, service = None, {}
    with open(path) as f:
        lines = f.read().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        if section == "Service":
            service.setdefault(key.strip(), []).append(value.strip())
    return service


def last(service, key, default=None):
    values = service.get(key)
    return values[-1] if values else default


def command(service, key):
    value = last(service, key)
    if value is None:
        sys.exit(f"unit-exec: no {key}=")
    if value[:1] in "-@+!:" or "%" in value:
        sys.exit(f"unit-exec: {key}= prefixes and specifiers are not supported: {value}")
    return shlex.split(value)


def yes(service, key):
    return last(service, key, "no").lower() in ("yes", "true", "1", "on")


def environment(service, user, log):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "SHELL": user.pw_shell,
    }
    for value in service.get("Environment", []):
        for assignment in shlex.split(value):
            name, _, val = assignment.partition("=")
            env[name] = val
    st = os.fstat(log.fileno())
    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    return env


def sandbox_files(service):
    """ProtectSystem=strict + ReadWritePaths + PrivateTmp + ProtectHome, in
    the mount namespace `unshare -m` gave us."""
    if last(service, "ProtectSystem") != "strict":
        sys.exit("unit-exec: only ProtectSystem=strict is reproduced")
    run = lambda *a: subprocess.run(a, check=True)
    run("mount", "--make-rprivate", "/")
    writable = []
    for value in service.get("ReadWritePaths", []):
        writable += value.split()
    for path in writable:
        run("mount", "--bind", path, path)
    skip = ("/proc", "/sys", "/dev")
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f]
    for target in targets:
        target = target.encode().decode("unicode_escape")
        if target in writable or any(target == s or target.startswith(s + "/") for s in skip):
            continue
        subprocess.run(["mount", "-o", "remount,bind,ro", target],
                       stderr=subprocess.DEVNULL, check=False)
    if yes(service, "PrivateTmp"):
        for tmp in ("/tmp", "/var/tmp"):
            run("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", tmp)
    if yes(service, "ProtectHome"):
        for home in ("/home", "/root", "/run/user"):
            if os.path.isdir(home):
                run("mount", "-t", "tmpfs", "-o", "ro,mode=0755", "tmpfs", home)


def syscall_groups():
    """Every @group of `systemd-analyze syscall-filter`, not yet expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                         capture_output=True, text=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if name.startswith("@"):
            if name not in seen:
                seen.add(name)
                calls |= expand(groups.get(name, []), groups, seen)
        else:
            calls.add(name)
    return calls


def seccomp_filter(service):
    import seccomp  # Debian's python3-seccomp

    err = last(service, "SystemCallErrorNumber", "")
    err_no = getattr(errno, err, None) if err else None
    deny = seccomp.ERRNO(err_no) if err_no else seccomp.KILL_PROCESS
    groups = syscall_groups()
    allowed = set()
    for value in service.get("SystemCallFilter", []):
        names = value.split()
        if value.startswith("~"):
            allowed -= expand([names[0][1:]] + names[1:], groups)
        else:
            allowed |= expand(names, groups)
    f = seccomp.SyscallFilter(defaction=deny)
    # Calls whose arguments decide: allowed only on the conditions below.
    conditional = set()
    families = last(service, "RestrictAddressFamilies")
    if families:
        import socket
        conditional.add("socket")
        keep = {int(getattr(socket, fam)) for fam in families.split()}
        for fam in range(64):
            action = seccomp.ALLOW if fam in keep else seccomp.ERRNO(errno.EAFNOSUPPORT)
            f.add_rule(action, "socket", seccomp.Arg(0, seccomp.EQ, fam))
    if yes(service, "MemoryDenyWriteExecute"):
        import mmap
        w, x = mmap.PROT_WRITE, mmap.PROT_EXEC
        conditional |= {"mmap", "mprotect", "pkey_mprotect"}
        # mmap: not writable and executable at once; mprotect: never executable.
        for prot in (0, w, x):
            f.add_rule(seccomp.ALLOW, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, w | x, prot))
        for call in ("mprotect", "pkey_mprotect"):
            f.add_rule(seccomp.ALLOW, call, seccomp.Arg(2, seccomp.MASKED_EQ, x, 0))
    for name in sorted(allowed - conditional):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            pass  # unknown to this kernel or libseccomp
    return f


def start(unit, log_path, notify_socket):
    service = parse_unit(unit)
    handled = set(HANDLED)
    if last(service, "User", "root") != "root":
        # setuid() to another user drops every capability, as empty sets say.
        handled |= {k for k in ("CapabilityBoundingSet", "AmbientCapabilities") if not last(service, k)}
    unknown = sorted(k for k in service if k not in handled)
    print(f"unit-exec: not reproduced: {', '.join(unknown) or 'nothing'}", file=sys.stderr)
    user = pwd.getpwnam(last(service, "User", "root"))
    group = grp.getgrnam(last(service, "Group", user.pw_name))
    argv = command(service, "ExecStart")
    log = open(log_path, "ab", buffering=0)
    env = environment(service, user, log)
    if notify_socket:
        env["NOTIFY_SOCKET"] = notify_socket
    if os.environ.get("UNIT_EXEC_SANDBOX", "1") == "1":
        sandbox_files(service)
    limit = last(service, "LimitNOFILE")
    if limit:
        soft, _, hard = limit.partition(":")
        soft, hard = int(soft), int(hard or soft)
        # systemd can raise the hard limit; in a container we may not.
        _, ceiling = resource.getrlimit(resource.RLIMIT_NOFILE)
        if ceiling != resource.RLIM_INFINITY and hard > ceiling:
            print(f"unit-exec: LimitNOFILE={limit} capped at this machine's hard limit {ceiling}",
                  file=sys.stderr)
            soft, hard = min(soft, ceiling), ceiling
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    os.umask(int(last(service, "UMask", "0022"), 8))
    os.initgroups(user.pw_name, group.gr_gid)
    os.setgid(group.gr_gid)
    os.setuid(user.pw_uid)
    os.chdir(last(service, "WorkingDirectory", user.pw_dir))
    if yes(service, "NoNewPrivileges") or service.get("SystemCallFilter"):
        PR_SET_NO_NEW_PRIVS = 38
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            sys.exit("unit-exec: prctl(PR_SET_NO_NEW_PRIVS) failed")
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    if service.get("SystemCallFilter"):
        seccomp_filter(service).load()
    os.execve(argv[0], argv, env)


def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "start":
        unit, rest = args[1], args[2:]
        opts = dict(zip(rest[::2], rest[1::2]))
        if "--log" not in opts:
            sys.exit("unit-exec: start needs --log FILE")
        start(unit, opts["--log"], opts.get("--notify-socket"))
    elif len(args) == 3 and args[0] == "reload":
        service = parse_unit(args[1])
        argv = [a.replace("$MAINPID", args[2]).replace("${MAINPID}", args[2])
                for a in command(service, "ExecReload")]
        sys.exit(subprocess.run(argv).returncode)
    elif len(args) == 3 and args[0] == "get":
        value = last(parse_unit(args[1]), args[2])
        if value is None:
            sys.exit(1)
        print(value)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
