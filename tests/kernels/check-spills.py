#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fails when a hot kernel spills registers in the ptxas report that
kernels/ptxas-report.py wrote (any arch), or when a hot kernel is missing
from it (a renamed kernel must not silently leave the check).

usage: check-spills.py REPORT KERNEL..."""
import re
import sys

FUNC = re.compile(r"Function properties for (\S+)")
SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers")


def kernel_name(mangled):
    """The plain name of an Itanium-mangled _Z<len><name>... symbol."""
    m = re.match(r"_Z(\d+)", mangled)
    if not m:
        return mangled
    n = int(m.group(1))
    start = m.end()
    return mangled[start:start + n]


def parse(lines):
    """(arch, kernel) -> (registers, spill stores, spill loads)."""
    out, arch, func, spills = {}, '?', None, None
    for line in lines:
        if line.startswith('# '):
            arch = line.split()[-1]
        m = FUNC.search(line)
        if m:
            func, spills = kernel_name(m.group(1)), None
            continue
        m = SPILL.search(line)
        if m and func:
            spills = (int(m.group(1)), int(m.group(2)))
            continue
        m = USED.search(line)
        if m and func and spills is not None:
            out[(arch, func)] = (int(m.group(1)),) + spills
            func = None
    return out


def check(lines, hot):
    usage = parse(lines)
    errors = []
    for name in hot:
        rows = [(a, u) for (a, f), u in usage.items() if f == name]
        if not rows:
            errors.append('{}: not in the ptxas report'.format(name))
        for arch, (regs, st, ld) in rows:
            print('{:24} {:6} {:4} registers, spill stores {}, loads {}'.format(name, arch, regs, st, ld))
            if st or ld:
                errors.append('{} on {} spills {} bytes stored, {} loaded'.format(name, arch, st, ld))
    return errors


SELF_TEST = """# x.cu sm_89
ptxas info    : Function properties for _Z6hot_okPf
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers
ptxas info    : Function properties for _Z9hot_spillPf
    24 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers
""".splitlines()


def main():
    # the checker itself must catch a spill and a missing kernel
    if not check(SELF_TEST, ['hot_spill']) or check(SELF_TEST, ['hot_ok']) or not check(SELF_TEST, ['gone']):
        print('check-spills.py: self-test failed')
        return 1
    print('# self-test passed')
    with open(sys.argv[1]) as f:
        errors = check(f.read().splitlines(), sys.argv[2:])
    for e in errors:
        print('error: ' + e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
