// Full-string regular expression matching in RE2 syntax (what ONNX RegexFullMatch specifies),
// written for the engine: patterns compile to a small NFA program that a Pike VM runs in
// O(text x pattern) time with no recursion, so no input can make matching blow the stack or
// take exponential time (the risks of backtracking engines such as std::regex).
//
// Supported: literals (UTF-8, matched by code point), `.`, classes `[a-z]`, `[^...]`,
// `[[:alpha:]]`, escapes `\d \D \s \S \w \W` (ASCII, as in RE2), `\b \B \A \z ^ $`,
// `\n \t \r \f \v \a \x41 \x{263A}` and escaped punctuation; groups `(...)`, `(?:...)`,
// `(?P<name>...)`, `(?<name>...)`; alternation; `* + ? {n} {n,} {n,m}` (and their lazy forms,
// which full matching cannot tell apart); flags `(?i)`, `(?s)`, `(?m)`, `(?U)` and
// `(?flags:...)`. Anything else RE2 rejects too (backreferences, lookaround) or that is left
// out here (`\pL` Unicode classes, `\Q...\E`, octal escapes) is an error naming the position.
// Case-insensitive matching folds single code points with the engine's Unicode case tables.
#pragma once
#include <memory>
#include <string>
#include <string_view>

namespace walle::text {

class Regex {
 public:
  // Throws walle::Error (Invalid) naming what is wrong with the pattern and where.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  // True if the whole of `text` (valid UTF-8) matches.
  bool full_match(std::string_view text) const;

 private:
  struct Program;
  std::unique_ptr<Program> program_;
};

}  // namespace walle::text
