#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libuvfio's ABI: the public headers, the version script, the library.

  abi.py --headers DIR --map FILE --lib LIBUVFIO.so [--nm NM]
      Fails (exit 1) unless the functions declared in DIR/*.h, the names
      in the version script's global: lists and the dynamic symbols that
      the library defines are the same three sets, and every exported
      symbol carries the script's version.
  abi.py --headers DIR --print
      Prints the functions the headers declare, one a line, for the
      version script.
"""
import argparse
import glob
import os
import re
import subprocess
import sys


def strip_comments(text):
    return re.sub(r'/\*.*?\*/|//[^\n]*', ' ', text, flags=re.S)


def strip_preprocessor(text):
    text = re.sub(r'\\\n', ' ', text)
    return '\n'.join(l for l in text.split('\n')
                     if not l.lstrip().startswith('#'))


def strip_balanced(text, opener, close, prefix='', after_paren=' '):
    """
    Removes prefix + a balanced opener..close group wherever it occurs,
    leaving a space, or after_paren where the group follows a ')'.
    """
    out = []
    i = 0
    pat = re.compile(re.escape(prefix) + r'\s*' + re.escape(opener)
                     if prefix else re.escape(opener))
    while True:
        m = pat.search(text, i)
        if not m:
            out.append(text[i:])
            return ''.join(out)
        out.append(text[i:m.start()])
        depth = 0
        j = m.end() - 1
        while j < len(text):
            if text[j] == opener:
                depth += 1
            elif text[j] == close:
                depth -= 1
                if depth == 0:
                    break
            j += 1
        out.append(after_paren if text[:m.start()].rstrip().endswith(')')
                   else ' ')
        i = j + 1


def declarations(path):
    """Yields (kind, name) for each function or extern object in path."""
    with open(path) as f:
        yield from declarations_of(f.read())


def declarations_of(text):
    text = strip_preprocessor(strip_comments(text))
    text = strip_balanced(text, '(', ')', '__attribute__')
    # Struct, union and enum bodies hold no external declarations; a
    # function body ends its definition as a ';' would.
    text = strip_balanced(text, '{', '}', after_paren=';')
    for stmt in text.split(';'):
        stmt = ' '.join(stmt.split())
        if not stmt or re.match(r'(typedef|static)\b', stmt):
            continue
        if '(' in stmt:
            # A function pointer object: int (*name)(...).
            m = re.match(r'[^(]*\(\s*\*\s*([A-Za-z_]\w*)', stmt)
            if m:
                yield 'object', m.group(1)
                continue
            m = re.match(r'[^(]*?\b([A-Za-z_]\w*)\s*\(', stmt)
            if m:
                yield 'function', m.group(1)
        elif re.match(r'extern\b', stmt):
            m = re.search(r'([A-Za-z_]\w*)\s*(\[[^\]]*\]\s*)*$', stmt)
            if m:
                yield 'object', m.group(1)


# The parser on what headers may hold; checked on every run, so that a
# parser that misses a kind of declaration fails instead of passing.
SELFTEST_C = r"""
#define F(x) int x(void);
struct s { int (*member)(int a); void (*cb)(void); };
typedef void (*fn_t)(void *opaque, unsigned int n);
typedef struct s s_t;
enum e { A = (1 << 2), B };
static inline int inline_helper(int x) { return x + 1; }
/* int commented(void); */
struct s *f_ptr(const char *path,
		const struct s *o);
void f_void(void) __attribute__((deprecated("use f_ptr()")));
__attribute__((visibility("default"))) int f_attr(int (*cb)(int));
unsigned long long
f_split(int a[]);
extern int obj_int;
extern const char *obj_names[4];
extern void (*obj_fnptr)(int);
"""
SELFTEST_WANT = {('function', 'f_ptr'), ('function', 'f_void'),
                 ('function', 'f_attr'), ('function', 'f_split'),
                 ('object', 'obj_int'), ('object', 'obj_names'),
                 ('object', 'obj_fnptr')}


def selftest():
    got = set(declarations_of(SELFTEST_C))
    if got != SELFTEST_WANT:
        print('abi.py parser self-test failed:')
        report('  missed', {n for _, n in SELFTEST_WANT - got})
        report('  wrongly found', {n for _, n in got - SELFTEST_WANT})
        return 1
    return 0


def header_symbols(hdr_dir):
    syms = {}
    for path in sorted(glob.glob(os.path.join(hdr_dir, '*.h'))):
        for kind, name in declarations(path):
            syms[name] = os.path.basename(path)
    return syms


def map_symbols(path):
    """
    The names of a version script's global: lists, each with its version
    node, and the names given as patterns (each must be listed).
    """
    with open(path) as f:
        text = re.sub(r'#[^\n]*', ' ', strip_comments(f.read()))
    names, bad = {}, []
    for node, body in re.findall(r'([A-Za-z_][\w.]*)\s*\{(.*?)\}', text,
                                 flags=re.S):
        section = None
        for tok in re.split(r'\s*;\s*|\s+', body):
            if not tok:
                continue
            if tok.endswith(':'):
                section = tok[:-1]
                continue
            if section != 'global':
                continue
            if re.search(r'[*?\[]', tok):
                bad.append(tok)
            names[tok] = node
    return names, bad


def exported(lib, nm):
    r = subprocess.run([nm, '-D', '--defined-only', '--with-symbol-versions',
                        lib], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f'{nm} failed on {lib}: {r.stderr.strip()}')
    out = r.stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 3 or f[1] == 'A':   # version nodes are absolute
            continue
        name, _, ver = f[2].partition('@')
        syms[name] = ver.lstrip('@')
    return syms


def report(title, names, where=None):
    if not names:
        return 0
    print(f'{title} ({len(names)}):')
    for n in sorted(names):
        print(f'  {n}' + (f'  [{where[n]}]' if where and n in where else ''))
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--headers', required=True)
    ap.add_argument('--map')
    ap.add_argument('--lib')
    ap.add_argument('--nm', default='nm')
    ap.add_argument('--print', action='store_true')
    a = ap.parse_args()

    if selftest():
        return 1
    hdr = header_symbols(a.headers)
    if a.print:
        for n in sorted(hdr):
            print(n)
        return 0
    if not a.map or not a.lib:
        ap.error('--map and --lib are needed to check')
    if not hdr:
        print(f'no declarations found in {a.headers}/*.h')
        return 1

    mapped, wild = map_symbols(a.map)
    exp = exported(a.lib, a.nm)
    fail = 0
    if not mapped:
        print(f'{a.map}: no global: names in a version node')
        fail = 1
    fail |= report(f'patterns in the global: list of {a.map} (name each '
                   'function)', wild)
    fail |= report('declared in the headers, missing from the version '
                   'script', set(hdr) - set(mapped), hdr)
    fail |= report('in the version script, declared in no public header',
                   set(mapped) - set(hdr))
    fail |= report('exported by the library, declared in no public header',
                   set(exp) - set(hdr))
    fail |= report('declared in the headers, not exported by the library',
                   set(hdr) - set(exp), hdr)
    fail |= report('exported with another version than the script gives',
                   {f'{n}@{v or "(none)"}, not @{mapped[n]}'
                    for n, v in exp.items() if n in mapped and
                    v != mapped[n]})
    if fail:
        return 1
    nodes = ', '.join(sorted(set(mapped.values())))
    print(f'{len(exp)} exported symbols, version {nodes}: the functions of '
          f'{a.headers}/*.h and the global: list of '
          f'{os.path.basename(a.map)}, no more, no fewer')
    return 0

if __name__ == '__main__':
    sys.exit(main())
