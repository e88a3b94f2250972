#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compiles each kernel source for each arch to a cubin with `ptxas -v` and
writes the resource usage (registers, stack, spills per kernel) to one file,
which tests/kernels/check-spills.py reads.

usage: ptxas-report.py NVCC OUTPUT ARCHS INCDIR SOURCE..."""
import os
import subprocess
import sys
import tempfile


def main():
    nvcc, output, archs, incdir = sys.argv[1:5]
    sources = sys.argv[5:]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs.split(';'):
            for src in sources:
                cmd = [nvcc, '-O3', '-cubin', '-Xptxas', '-v', '-I' + incdir,
                       '-gencode', 'arch=compute_{0},code=sm_{0}'.format(arch),
                       '-o', os.path.join(tmp, 'k.cubin'), src]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.stderr.write(r.stderr)
                    return r.returncode
                lines.append('# {} sm_{}\n'.format(os.path.basename(src), arch))
                lines.extend(l + '\n' for l in r.stderr.splitlines() if 'ptxas' in l or 'spill' in l)
    with open(output, 'w') as f:
        f.writelines(lines)
    return 0


if __name__ == '__main__':
    sys.exit(main())
