#include "eval/sql/sql_parser.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "eval/sql/sql_tokenizer.h"

namespace fathom::eval {
namespace {

// Garbage predictions can open parentheses without end; recursion stops well before the stack.
constexpr int kMaxNesting = 64;

// The words that end a clause in process_sql.py (CLAUSE_KEYWORDS).
bool IsClauseKeyword(const SqlToken& token) {
  static constexpr absl::string_view kWords[] = {"select", "from",      "where", "group", "order",
                                                 "limit",  "intersect", "union", "except"};
  if (token.kind != SqlTokenKind::kWord) return false;
  for (absl::string_view w : kWords) {
    if (token.text == w) return true;
  }
  return false;
}

bool ParseAgg(const SqlToken& token, AggOp* agg) {
  static constexpr std::pair<absl::string_view, AggOp> kAggs[] = {{"max", AggOp::kMax},
                                                                  {"min", AggOp::kMin},
                                                                  {"count", AggOp::kCount},
                                                                  {"sum", AggOp::kSum},
                                                                  {"avg", AggOp::kAvg}};
  if (token.kind != SqlTokenKind::kWord) return false;
  for (const auto& [name, op] : kAggs) {
    if (token.text == name) {
      *agg = op;
      return true;
    }
  }
  return false;
}

bool ParseCondOp(const SqlToken& token, CondOp* op) {
  for (int i = 0; i <= static_cast<int>(CondOp::kExists); ++i) {
    if (token.Is(CondOpName(static_cast<CondOp>(i)))) {
      *op = static_cast<CondOp>(i);
      return true;
    }
  }
  return false;
}

class Parser {
 public:
  Parser(std::vector<SqlToken> tokens, const SqlSchema& schema)
      : tokens_(std::move(tokens)), schema_(schema) {
    // process_sql.py's scan_alias: every "X AS Y" anywhere maps Y to X. Only table targets
    // matter; "count(*) AS n" maps n to ")" and is dropped here.
    for (size_t i = 1; i + 1 < tokens_.size(); ++i) {
      if (tokens_[i].Is("as") && schema_.HasTable(tokens_[i - 1].text)) {
        global_aliases_[tokens_[i + 1].text] = tokens_[i - 1].text;
      }
    }
  }

  absl::StatusOr<SqlQuery> Parse() {
    if (tokens_.empty()) return absl::InvalidArgumentError("empty query");
    return ParseQuery(nullptr);
  }

 private:
  // The tables a query's FROM makes visible: names and aliases, and the order in which a bare
  // column is looked up.
  struct Scope {
    const Scope* parent = nullptr;
    std::map<std::string, std::string> tables;  // name or alias -> table
    std::vector<std::string> default_tables;
  };

  bool AtEnd() const { return pos_ >= tokens_.size(); }
  bool At(absl::string_view text) const { return !AtEnd() && tokens_[pos_].Is(text); }
  bool Accept(absl::string_view text) {
    if (!At(text)) return false;
    ++pos_;
    return true;
  }
  bool AtClauseEnd() const {
    return AtEnd() || IsClauseKeyword(tokens_[pos_]) || At(")") || At(";");
  }

  absl::Status Error(absl::string_view what) const {
    if (AtEnd()) return absl::InvalidArgumentError(absl::StrCat(what, " at the end of the query"));
    return absl::InvalidArgumentError(
        absl::StrCat(what, " at offset ", tokens_[pos_].offset, " ('", tokens_[pos_].text, "')"));
  }
  absl::Status Expect(absl::string_view text) {
    if (Accept(text)) return absl::OkStatus();
    return Error(absl::StrCat("expected '", text, "'"));
  }

  absl::StatusOr<SqlQuery> ParseQuery(const Scope* parent);
  absl::Status ParseFrom(SqlQuery& query, Scope& scope);
  absl::Status ParseSelect(SqlQuery& query, const Scope& scope, size_t from_pos);
  absl::Status ParseOrderBy(SqlQuery& query, const Scope& scope);
  absl::StatusOr<Condition> ParseCondition(const Scope& scope);
  absl::StatusOr<SqlValue> ParseValue(const Scope& scope);
  absl::StatusOr<ValUnit> ParseValUnit(const Scope& scope);
  absl::StatusOr<ColUnit> ParseColUnit(const Scope& scope);
  absl::StatusOr<std::string> ParseColumn(const Scope& scope);

  // Position of this query's FROM: the first one outside parentheses opened after `start`.
  size_t FindFrom(size_t start) const {
    int depth = 0;
    for (size_t i = start; i < tokens_.size(); ++i) {
      if (tokens_[i].Is("(")) ++depth;
      if (tokens_[i].Is(")") && --depth < 0) break;
      if (depth == 0 && tokens_[i].Is("from")) return i;
    }
    return tokens_.size();
  }

  std::vector<SqlToken> tokens_;
  const SqlSchema& schema_;
  std::map<std::string, std::string> global_aliases_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

absl::StatusOr<SqlQuery> Parser::ParseQuery(const Scope* parent) {
  if (++nesting_ > kMaxNesting) return Error("subqueries nested too deeply");
  const bool block = Accept("(");
  if (!At("select")) return Error("expected 'select'");
  const size_t select_pos = pos_;
  const size_t from_pos = FindFrom(select_pos);
  if (from_pos >= tokens_.size()) return Error("'from' not found for the query starting");

  // FROM first: its tables decide how the SELECT list's bare columns resolve.
  SqlQuery query;
  Scope scope;
  scope.parent = parent;
  pos_ = from_pos + 1;
  RETURN_IF_ERROR(ParseFrom(query, scope));
  const size_t after_from = pos_;
  pos_ = select_pos;
  RETURN_IF_ERROR(ParseSelect(query, scope, from_pos));
  pos_ = after_from;

  if (Accept("where")) {
    ASSIGN_OR_RETURN(query.where, ParseCondition(scope));
  }
  if (Accept("group")) {
    RETURN_IF_ERROR(Expect("by"));
    while (!AtClauseEnd()) {
      ASSIGN_OR_RETURN(ColUnit column, ParseColUnit(scope));
      query.group_by.push_back(std::move(column));
      if (!Accept(",")) break;
    }
  }
  if (Accept("having")) {
    ASSIGN_OR_RETURN(query.having, ParseCondition(scope));
  }
  if (Accept("order")) RETURN_IF_ERROR(ParseOrderBy(query, scope));
  if (Accept("limit")) {
    int64_t limit = 0;
    if (AtEnd() || tokens_[pos_].kind != SqlTokenKind::kNumber ||
        !absl::SimpleAtoi(tokens_[pos_].text, &limit)) {
      return Error("expected an integer after 'limit'");
    }
    query.limit = limit;
    ++pos_;
  }
  while (Accept(";")) {
  }
  if (block) RETURN_IF_ERROR(Expect(")"));
  while (Accept(";")) {
  }
  for (SetOp op : {SetOp::kIntersect, SetOp::kUnion, SetOp::kExcept}) {
    if (Accept(SetOpName(op))) {
      ASSIGN_OR_RETURN(SqlQuery rhs, ParseQuery(parent));
      query.set_op = op;
      query.set_rhs = std::make_shared<const SqlQuery>(std::move(rhs));
      break;
    }
  }
  --nesting_;
  return query;
}

absl::Status Parser::ParseFrom(SqlQuery& query, Scope& scope) {
  while (true) {
    if (AtEnd()) return Error("expected a table after 'from'");
    const bool block = Accept("(");
    if (At("select")) {
      // A FROM subquery sees the enclosing queries, not its sibling tables.
      ASSIGN_OR_RETURN(SqlQuery sub, ParseQuery(scope.parent));
      query.from.push_back({"", std::make_shared<const SqlQuery>(std::move(sub))});
    } else {
      Accept("join");
      if (At(",")) return Error("comma joins are outside the Spider subset; use JOIN");
      if (AtEnd() || tokens_[pos_].kind != SqlTokenKind::kWord) return Error("expected a table");
      const std::string table = tokens_[pos_].text;
      if (!schema_.HasTable(table)) {
        return Error(absl::StrCat("unknown table '", table, "' in database ", schema_.db_id(),
                                  " (aliases need AS)"));
      }
      ++pos_;
      if (Accept("as")) {
        if (AtEnd() || tokens_[pos_].kind != SqlTokenKind::kWord) {
          return Error("expected an alias after 'as'");
        }
        scope.tables[tokens_[pos_].text] = table;
        ++pos_;
      }
      scope.tables[table] = table;
      scope.default_tables.push_back(table);
      query.from.push_back({table, nullptr});
    }
    if (Accept("on")) {
      ASSIGN_OR_RETURN(Condition on, ParseCondition(scope));
      for (size_t i = 0; i < on.units.size(); ++i) {
        if (!query.join_on.empty()) {
          query.join_on.is_or.push_back(i == 0 ? false : on.is_or[i - 1]);
        }
        query.join_on.units.push_back(std::move(on.units[i]));
      }
    }
    if (block) RETURN_IF_ERROR(Expect(")"));
    if (AtClauseEnd()) return absl::OkStatus();
  }
}

absl::Status Parser::ParseSelect(SqlQuery& query, const Scope& scope, size_t from_pos) {
  RETURN_IF_ERROR(Expect("select"));
  query.distinct = Accept("distinct");
  while (pos_ < from_pos) {
    if (At("as")) return Error("column aliases (AS) are outside the Spider subset");
    SelectItem item;
    if (pos_ + 1 < tokens_.size() && tokens_[pos_ + 1].Is("(") &&
        ParseAgg(tokens_[pos_], &item.agg)) {
      ++pos_;
    }
    ASSIGN_OR_RETURN(item.value, ParseValUnit(scope));
    query.select.push_back(std::move(item));
    Accept(",");
  }
  if (pos_ != from_pos) return Error("unexpected text in the select list");
  return absl::OkStatus();
}

absl::Status Parser::ParseOrderBy(SqlQuery& query, const Scope& scope) {
  RETURN_IF_ERROR(Expect("by"));
  while (!AtClauseEnd()) {
    ASSIGN_OR_RETURN(ValUnit value, ParseValUnit(scope));
    query.order_by.push_back(std::move(value));
    if (Accept("desc")) {
      query.order_desc = true;
    } else if (Accept("asc")) {
      query.order_desc = false;
    }
    if (!Accept(",")) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<Condition> Parser::ParseCondition(const Scope& scope) {
  Condition condition;
  while (true) {
    CondUnit cond;
    ASSIGN_OR_RETURN(cond.left, ParseValUnit(scope));
    cond.negated = Accept("not");
    if (At("<>")) return Error("'<>' is outside the Spider subset; use '!='");
    if (AtEnd() || !ParseCondOp(tokens_[pos_], &cond.op)) {
      return Error("expected a comparison operator");
    }
    ++pos_;
    ASSIGN_OR_RETURN(cond.value1, ParseValue(scope));
    if (cond.op == CondOp::kBetween) {
      RETURN_IF_ERROR(Expect("and"));
      ASSIGN_OR_RETURN(cond.value2, ParseValue(scope));
    }
    condition.units.push_back(std::move(cond));
    if (AtClauseEnd() || At("join") || At("on") || At("as")) return condition;
    if (Accept("and")) {
      condition.is_or.push_back(false);
    } else if (Accept("or")) {
      condition.is_or.push_back(true);
    } else {
      return Error("expected 'and' or 'or'");
    }
  }
}

absl::StatusOr<SqlValue> Parser::ParseValue(const Scope& scope) {
  const bool block = Accept("(");
  SqlValue value;
  if (At("select")) {
    ASSIGN_OR_RETURN(SqlQuery sub, ParseQuery(&scope));
    value.kind = SqlValue::Kind::kQuery;
    value.query = std::make_shared<const SqlQuery>(std::move(sub));
  } else if (!AtEnd() && tokens_[pos_].kind == SqlTokenKind::kString) {
    // The official tokenizer turns every ' into ", so 'x' and "x" are the same value.
    const std::string& text = tokens_[pos_++].text;
    value.kind = SqlValue::Kind::kString;
    value.text = absl::StrCat("\"", text.substr(1, text.size() - 2), "\"");
  } else if (!AtEnd() && (tokens_[pos_].kind == SqlTokenKind::kNumber ||
                          (At("-") && pos_ + 1 < tokens_.size() &&
                           tokens_[pos_ + 1].kind == SqlTokenKind::kNumber))) {
    const bool negative = Accept("-");
    double number = 0;
    if (!absl::SimpleAtod(tokens_[pos_].text, &number)) return Error("bad number");
    ++pos_;
    // Numbers compare as floats officially: 1 and 1.0 are one value.
    value.kind = SqlValue::Kind::kNumber;
    value.text = absl::StrCat(negative ? -number : number);
  } else {
    if (At("null")) return Error("NULL is outside the Spider subset");
    ASSIGN_OR_RETURN(value.column, ParseColUnit(scope));
    value.kind = SqlValue::Kind::kColumn;
    // "= T1.adults + T1.kids": officially only the first column is kept (values are masked
    // anyway); the rest is read and dropped.
    for (absl::string_view op : {"-", "+", "*", "/"}) {
      if (Accept(op)) {
        RETURN_IF_ERROR(ParseColUnit(scope).status());
        break;
      }
    }
  }
  if (block) RETURN_IF_ERROR(Expect(")"));
  return value;
}

absl::StatusOr<ValUnit> Parser::ParseValUnit(const Scope& scope) {
  const bool block = Accept("(");
  ValUnit value;
  ASSIGN_OR_RETURN(value.left, ParseColUnit(scope));
  static constexpr std::pair<absl::string_view, UnitOp> kOps[] = {
      {"-", UnitOp::kMinus}, {"+", UnitOp::kPlus}, {"*", UnitOp::kTimes}, {"/", UnitOp::kDivide}};
  for (const auto& [symbol, op] : kOps) {
    if (Accept(symbol)) {
      value.op = op;
      ASSIGN_OR_RETURN(value.right, ParseColUnit(scope));
      break;
    }
  }
  if (block) RETURN_IF_ERROR(Expect(")"));
  return value;
}

absl::StatusOr<ColUnit> Parser::ParseColUnit(const Scope& scope) {
  const bool block = Accept("(");
  ColUnit column;
  if (pos_ + 1 < tokens_.size() && tokens_[pos_ + 1].Is("(") &&
      ParseAgg(tokens_[pos_], &column.agg)) {
    pos_ += 2;
    column.distinct = Accept("distinct");
    ASSIGN_OR_RETURN(column.column, ParseColumn(scope));
    RETURN_IF_ERROR(Expect(")"));
  } else {
    column.distinct = Accept("distinct");
    ASSIGN_OR_RETURN(column.column, ParseColumn(scope));
  }
  if (block) RETURN_IF_ERROR(Expect(")"));
  return column;
}

absl::StatusOr<std::string> Parser::ParseColumn(const Scope& scope) {
  if (Accept("*")) return std::string("*");
  if (AtEnd() || tokens_[pos_].kind != SqlTokenKind::kWord) return Error("expected a column");
  const std::string& word = tokens_[pos_].text;
  const size_t dot = word.find('.');
  if (dot != std::string::npos) {
    const std::string prefix = word.substr(0, dot);
    const std::string name = word.substr(dot + 1);
    std::string table;
    for (const Scope* s = &scope; s != nullptr && table.empty(); s = s->parent) {
      const auto it = s->tables.find(prefix);
      if (it != s->tables.end()) table = it->second;
    }
    if (table.empty()) {
      const auto it = global_aliases_.find(prefix);
      if (it != global_aliases_.end()) table = it->second;
    }
    if (table.empty() && schema_.HasTable(prefix)) table = prefix;
    if (table.empty()) return Error(absl::StrCat("unknown table or alias '", prefix, "'"));
    if (!schema_.HasColumn(table, name)) {
      return Error(absl::StrCat("unknown column '", name, "' in table ", table));
    }
    ++pos_;
    return absl::StrCat(table, ".", name);
  }
  std::vector<std::string> searched;
  for (const Scope* s = &scope; s != nullptr; s = s->parent) {
    for (const std::string& table : s->default_tables) {
      if (schema_.HasColumn(table, word)) {
        ++pos_;
        return absl::StrCat(table, ".", word);
      }
      searched.push_back(table);
    }
  }
  return Error(absl::StrCat("unknown column '", word, "' in table(s) ",
                            searched.empty() ? "(none)" : absl::StrJoin(searched, ", ")));
}

}  // namespace

absl::StatusOr<SqlQuery> ParseSpiderSql(absl::string_view sql, const SqlSchema& schema) {
  ASSIGN_OR_RETURN(std::vector<SqlToken> tokens, TokenizeSql(sql));
  return Parser(std::move(tokens), schema).Parse();
}

}  // namespace fathom::eval
