#!/usr/bin/env python3
"""Regenerates spec_tables.h and golden_examples.h from SERVICES.md.

    python3 tests/services/proto/extract_spec.py ../shared/design/SERVICES.md

The tests never read the spec (CI builds from a clean clone without it); run this when the spec
changes and review the diff. It expands "(same path)" and "…" routes, takes event names from each
"Events." line and exchanges from each "Example" code block.
"""
import os
import re
import sys

OUT = os.path.dirname(os.path.abspath(__file__))

TABLES_HEAD = """#pragma once
// Transcribed from SERVICES.md §2 (v1.3) by extract_spec.py; CI builds from a clean clone without
// the spec, so the tables live here. Regenerate together with the spec.

#include <string_view>

namespace sidecar::services::spec {

// An action table row: NATS subject svc.<service>.v1.<action>, legacy route <method> <path>
// ("(same path)" and "…" expanded).
struct SpecAction {
  std::string_view service;
  std::string_view action;
  std::string_view method;
  std::string_view path;
};

// An event of a service's "Events." line: evt.<service>.v1.<event>.
struct SpecEvent {
  std::string_view service;
  std::string_view event;
};

// The 22 services in §2 order.
inline constexpr std::string_view kSpecServices[] = {
"""

GOLDEN_HEAD = """#pragma once
// The golden examples of SERVICES.md §2 (v1.3), copied verbatim by extract_spec.py. CI builds from
// a clean clone without the spec, so they live here. ai-integration Example 2 repeats Example 1's
// request (the spec says "same request"); auth Example 2 holds two exchanges.

#include <string_view>

namespace sidecar::services::spec {

struct GoldenExample {
  std::string_view service;
  std::string_view example;        // "Example 1"
  std::string_view method;         // GET, POST, PUT, PATCH, DELETE
  std::string_view target;         // path and query, as sent
  const char* request_body;        // JSON; nullptr for GET and DELETE
  int status;                      // HTTP status of the answer
  std::string_view response_body;  // JSON: the <Action>Response or {"error":{...}}
};

// clang-format off
inline constexpr GoldenExample kGoldenExamples[] = {
"""

TAIL = """// clang-format on

}  // namespace sidecar::services::spec
"""


def sections(lines):
    """Yields (service, line) for every line of §2, service being the current §2.N heading."""
    service = None
    for line in lines:
        m = re.match(r'^### 2\.\d+ (\S+)', line)
        if m:
            service = m.group(1)
            yield service, None
            continue
        if line.startswith('## ') and not line.startswith('## 2'):
            service = None
        if service:
            yield service, line


def spec_tables(lines):
    order, rows, events = [], [], {}
    in_table, prev_path = False, None
    for service, line in sections(lines):
        if line is None:
            order.append(service)
            in_table = False
            continue
        if line.startswith('| Action | NATS subject | HTTP |'):
            in_table = True
            continue
        if in_table:
            if not line.startswith('|'):
                in_table = False
                continue
            cells = [c.strip() for c in line.strip('|').split('|')]
            if cells[0].startswith('---'):
                continue
            action = cells[0].split()[0]
            if cells[1] != 'svc.%s.v1.%s' % (service, action):
                sys.exit('subject %s does not match %s/%s' % (cells[1], service, action))
            method, path = cells[2].split(' ', 1)
            if path == '(same path)':
                path = prev_path
            elif path.startswith('…'):
                rest = path[1:]
                first = '/' + rest.split('/')[1]
                path = prev_path[:prev_path.index(first + '/')] + rest
            prev_path = path
            rows.append((service, action, method, path))
        m = re.match(r'^\*\*Events\.\*\* (.*)$', line)
        if m:
            events[service] = re.findall(r'`([a-z_]+)\{', m.group(1))
    with open(os.path.join(OUT, 'spec_tables.h'), 'w', encoding='utf-8') as f:
        f.write(TABLES_HEAD)
        for s in order:
            f.write('    "%s",\n' % s)
        f.write('};\n\n// clang-format off\ninline constexpr SpecAction kSpecActions[] = {\n')
        for r in rows:
            f.write('    {"%s", "%s", "%s", "%s"},\n' % r)
        f.write('};\n\ninline constexpr SpecEvent kSpecEvents[] = {\n')
        for s in order:
            for e in events.get(s, []):
                f.write('    {"%s", "%s"},\n' % (s, e))
        f.write('};\n' + TAIL)
    print('spec_tables.h: %d services, %d actions, %d events'
          % (len(order), len(rows), sum(len(v) for v in events.values())))


def golden_examples(lines):
    out, label, in_block, request = [], None, False, None
    for service, line in sections(lines):
        if line is None:
            continue
        m = re.match(r'^\*\*(Example \d+)', line)
        if m:
            label = m.group(1)
            continue
        if line.startswith('```') and label:
            in_block = not in_block
            if not in_block:
                label = None
            continue
        if not in_block:
            continue
        m = re.match(r'^(GET|POST|PUT|PATCH|DELETE) (\S+)', line)
        if m:
            request = dict(method=m.group(1), target=m.group(2), body=None)
            continue
        if line.startswith('{'):
            request['body'] = line
            continue
        m = re.match(r'^→ (\d+) (.*)$', line)
        if m:
            out.append((service, label, request['method'], request['target'], request['body'],
                        int(m.group(1)), m.group(2)))
            continue
        sys.exit('cannot read example line: ' + line)

    def q(s):
        return 'nullptr' if s is None else 'R"json(%s)json"' % s

    with open(os.path.join(OUT, 'golden_examples.h'), 'w', encoding='utf-8') as f:
        f.write(GOLDEN_HEAD)
        for e in out:
            f.write('    {"%s", "%s", "%s", "%s",\n     %s,\n     %d, %s},\n'
                    % (e[0], e[1], e[2], e[3], q(e[4]), e[5], q(e[6])))
        f.write('};\n' + TAIL)
    print('golden_examples.h: %d exchanges' % len(out))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding='utf-8') as spec:
        text = spec.read().split('\n')
    spec_tables(text)
    golden_examples(text)
