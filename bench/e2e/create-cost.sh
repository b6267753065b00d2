#!/usr/bin/env bash
# Kernel time of creating whisper-sized files three ways, each into a new ext4 (mkfs.ext4
# defaults, loop-mounted; needs root), ROUNDS rounds in turn:
#   header_then_fallocate  — write the header, then fallocate the rest (whisper's order);
#   fallocate_then_header  — fallocate the whole file, then write the header over its start
#                            (lonsdaleite's order since this was measured; same bytes);
#   sparse                 — write the header, then ftruncate to the full size.
# Each file is made under a temporary name and renamed into place, as lonsdaleite does.
# FILES files in 100 directories, SIZE bytes each (default: 60s:1d,15m:7d = 25 384 bytes).
#
#   bench/e2e/create-cost.sh          FILES=5000 SIZE=25384 ROUNDS=2
set -euo pipefail
FILES=${FILES:-5000}
SIZE=${SIZE:-25384}
ROUNDS=${ROUNDS:-2}
[[ $(id -u) == 0 ]] || { echo "needs root (loop mounts a new ext4 per round)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/create-cost.XXXXXX)
cleanup() { mountpoint -q "$WORK/mnt" && umount "$WORK/mnt"; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/mnt"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), $(uname -r); $(date -u +%FT%TZ); $FILES files of $SIZE bytes"
for r in $(seq 1 "$ROUNDS"); do
  for mode in header_then_fallocate fallocate_then_header sparse; do
    truncate -s 4G "$WORK/img"
    mkfs.ext4 -q -F "$WORK/img"
    mount -o loop "$WORK/img" "$WORK/mnt"
    /usr/bin/python3 - "$mode" "$WORK/mnt" "$FILES" "$SIZE" <<'PY'
import os, resource, sys
mode, root, files, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
header = b"\0" * 40
for d in range(100):
    os.makedirs(f"{root}/g{d:02d}", exist_ok=True)
before = resource.getrusage(resource.RUSAGE_SELF)
for i in range(files):
    path = f"{root}/g{i % 100:02d}/m{i:07d}.wsp"
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    if mode == "header_then_fallocate":
        os.write(fd, header)
        os.posix_fallocate(fd, len(header), size - len(header))
    elif mode == "fallocate_then_header":
        os.posix_fallocate(fd, 0, size)
        os.pwrite(fd, header, 0)
    else:
        os.write(fd, header)
        os.ftruncate(fd, size)
    os.rename(tmp, path)
    os.close(fd)
after = resource.getrusage(resource.RUSAGE_SELF)
sys_s = after.ru_stime - before.ru_stime
print(f"{mode}: system {sys_s:.3f} s ({sys_s / files * 1e6:.1f} us per file)")
PY
    umount "$WORK/mnt"
    rm -f "$WORK/img"
  done
done
