// Splits SQL text into tokens for the Spider parser (sql_parser.h) and for the execution scorer,
// which only needs to know whether a query orders its rows. Words and keywords are lower-cased
// because the official Spider evaluation compares SQL case-insensitively; string literals keep
// their case because they are values (masked anyway when scoring exact match).
#ifndef FATHOM_EVAL_SQL_SQL_TOKENIZER_H_
#define FATHOM_EVAL_SQL_SQL_TOKENIZER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fathom::eval {

enum class SqlTokenKind {
  kWord,    // keyword or identifier, lower-cased; dotted names stay one token ("t1.name")
  kNumber,  // 12, 3.5, 1e3 (a sign is a separate kSymbol)
  kString,  // 'abc' or "abc" as written, quotes included
  kSymbol,  // ( ) , ; . * + - / % = < > <= >= != <>
};

struct SqlToken {
  SqlTokenKind kind;
  std::string text;
  size_t offset = 0;  // byte offset in the query, for error messages

  bool Is(absl::string_view word_or_symbol) const {
    return kind != SqlTokenKind::kString && text == word_or_symbol;
  }
};

// Fails on an unterminated quote or a character no SQL token starts with, naming the offset.
// Backquoted identifiers (MySQL) become words without the quotes.
absl::StatusOr<std::vector<SqlToken>> TokenizeSql(absl::string_view sql);

// True when the outermost query sorts its result (ORDER BY outside every parenthesis), so
// execution results must be compared as sequences rather than multisets.
bool HasTopLevelOrderBy(const std::vector<SqlToken>& tokens);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SQL_TOKENIZER_H_
