"""A pass-through FUSE file system whose writes can be held, to play a stalled device.

    python3 gated_fs.py BACKING_DIR MOUNT_POINT GATE_FILE

Every operation goes to BACKING_DIR. While GATE_FILE exists, a write to a file whose path (inside
the mount) contains the text GATE_FILE holds waits until the gate file is removed; with
"fsync:<text>" in GATE_FILE the fsyncs of such files wait instead (their writes pass), with
"read:<text>" their reads. Each held operation prints "held <op> <path>" once, when it starts to
wait. Other files and other operations go on (the daemon is multi-threaded). Runs in the foreground until
unmounted (`fusermount -u MOUNT_POINT`) or killed. Needs python3-fusepy (libfuse2) and /dev/fuse.
O_DIRECT is dropped on the backing side (FUSE hands the daemon ordinary buffers).
"""
import errno
import os
import sys
import time

from fusepy import FUSE, FuseOSError, Operations


class gated_passthrough(Operations):
    def __init__(self, backing: str, gate: str):
        self.backing = os.path.realpath(backing)
        self.gate = gate

    def _full(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _held(self, path: str, op: str = "write") -> bool:
        """The gate file names a path fragment whose writes are held, or "fsync:<fragment>" whose
        fsyncs are held (its writes pass)."""
        try:
            with open(self.gate) as f:
                text = f.read().strip()
        except FileNotFoundError:
            return False
        held_op = "write"
        for prefix in ("fsync", "read"):
            if text.startswith(prefix + ":"):
                held_op, text = prefix, text[len(prefix) + 1:]
        return op == held_op and bool(text) and text in path

    def _hold(self, path: str, op: str) -> None:
        """Waits while the gate holds `op` on `path`: the stalled device."""
        if not self._held(path, op):
            return
        print(f"held {op} {path}", flush=True)
        while self._held(path, op):
            time.sleep(0.02)

    # ---- files and directories, passed through ----
    def access(self, path, mode):
        if not os.access(self._full(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        os.chmod(self._full(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._full(path), uid, gid)

    def getattr(self, path, fh=None):
        st = os.lstat(self._full(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._full(path))

    def mkdir(self, path, mode):
        os.mkdir(self._full(path), mode)

    def rmdir(self, path):
        os.rmdir(self._full(path))

    def unlink(self, path):
        os.unlink(self._full(path))

    def rename(self, old, new):
        os.rename(self._full(old), self._full(new))

    def statfs(self, path):
        st = os.statvfs(self._full(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                "f_frsize", "f_namemax")
        return {k: getattr(st, k) for k in keys}

    def utimens(self, path, times=None):
        os.utime(self._full(path), times)

    def open(self, path, flags):
        return os.open(self._full(path), flags & ~os.O_DIRECT)

    def create(self, path, mode, fi=None):
        return os.open(self._full(path), os.O_RDWR | os.O_CREAT, mode)

    def read(self, path, size, offset, fh):
        self._hold(path, "read")
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._hold(path, "write")
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self._full(path), length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        self._hold(path, "fsync")
        os.fsync(fh)
        return 0

    def fsyncdir(self, path, datasync, fh):
        return 0

    def lock(self, path, fh, cmd, lock):
        return 0  # POSIX locks granted: one broker uses the mount (its log dir's .lock)


def main() -> None:
    backing, mount, gate = sys.argv[1:4]
    FUSE(gated_passthrough(backing, gate), mount, foreground=True, nothreads=False)


if __name__ == "__main__":
    main()
