// Unicode case mapping (tables generated from Python's, see gen_case_table.py) and splitting.
#include <algorithm>
#include <cstdint>

#include "text/strings_ops.h"
#include "text/utf8.h"

namespace walle::text {

namespace {

struct CaseRun {
  char32_t first, last;
  int stride;
  int32_t delta;
};
struct CaseSpecial {
  char32_t cp;
  char32_t out[3];  // 0-terminated when shorter
};
#include "text/case_table.inc"

template <size_t R>
char32_t map_simple(const CaseRun (&runs)[R], char32_t cp) {
  for (const CaseRun& r : runs) {
    if (r.first > cp) break;
    if (cp <= r.last && (cp - r.first) % static_cast<char32_t>(r.stride) == 0)
      return static_cast<char32_t>(static_cast<int64_t>(cp) + r.delta);
  }
  return cp;
}

template <size_t R, size_t S>
void map_case(const CaseRun (&runs)[R], const CaseSpecial (&special)[S], char32_t cp, std::string& out) {
  if (cp >= 0x80) {
    // The special (multi code point) mappings are sorted by code point.
    const CaseSpecial* sp = std::lower_bound(std::begin(special), std::end(special), cp,
                                             [](const CaseSpecial& e, char32_t c) { return e.cp < c; });
    if (sp != std::end(special) && sp->cp == cp) {
      for (char32_t o : sp->out)
        if (o) utf8_append(out, o);
      return;
    }
  }
  // Runs are few (about 200) and sorted by their first code point; stride-2 runs interleave
  // with others, so map_simple scans every run that starts at or before cp.
  cp = map_simple(runs, cp);
  utf8_append(out, cp);
}

template <size_t R, size_t S>
std::string convert(std::string_view s, const CaseRun (&runs)[R], const CaseSpecial (&special)[S]) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : utf8_decode(s)) map_case(runs, special, cp, out);
  return out;
}

}  // namespace

std::string to_upper(std::string_view s) { return convert(s, kUpperRuns, kUpperSpecial); }
std::string to_lower(std::string_view s) { return convert(s, kLowerRuns, kLowerSpecial); }
char32_t simple_upper(char32_t c) { return map_simple(kUpperRuns, c); }
char32_t simple_lower(char32_t c) { return map_simple(kLowerRuns, c); }

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

// Byte length of the UTF-8 sequence starting with `lead` (input is valid UTF-8).
size_t seq_len(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

// The whitespace code point at s[i], or 0 bytes if there is none.
size_t space_at(std::string_view s, size_t i) {
  size_t n = std::min(seq_len(static_cast<unsigned char>(s[i])), s.size() - i);
  std::u32string cp = utf8_decode(s.substr(i, n));
  return cp.size() == 1 && is_space(cp[0]) ? n : 0;
}

std::vector<std::string_view> split_whitespace(std::string_view s, int64_t maxsplit) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (true) {
    while (i < s.size()) {  // skip a run of whitespace
      size_t n = space_at(s, i);
      if (!n) break;
      i += n;
    }
    if (i >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      parts.push_back(s.substr(i));  // the rest, trailing whitespace included (as Python keeps it)
      break;
    }
    size_t start = i;
    while (i < s.size() && !space_at(s, i)) i += seq_len(static_cast<unsigned char>(s[i]));
    parts.push_back(s.substr(start, i - start));
  }
  return parts;
}

}  // namespace

std::vector<std::string_view> split(std::string_view s, std::string_view sep, int64_t maxsplit) {
  if (sep.empty()) return split_whitespace(s, maxsplit);
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    size_t at = s.find(sep, start);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(start, at - start));
    start = at + sep.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

}  // namespace walle::text
