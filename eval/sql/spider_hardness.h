// Spider's difficulty levels (easy, medium, hard, extra), used to break exact-match accuracy
// down as the official report does. The rules are evaluation.py's eval_hardness, quirks
// included so the counts agree: its "aggregate" count also counts negated WHERE/HAVING
// conditions and HAVING's AND/OR connectors.
#ifndef FATHOM_EVAL_SQL_SPIDER_HARDNESS_H_
#define FATHOM_EVAL_SQL_SPIDER_HARDNESS_H_

#include "eval/sql/sql_ast.h"

namespace fathom::eval {

enum class SpiderHardness { kEasy, kMedium, kHard, kExtra };
inline constexpr int kNumSpiderHardness = 4;

const char* HardnessName(SpiderHardness hardness);  // "easy", "medium", "hard", "extra"

// Classifies a parsed (not normalised) gold query.
SpiderHardness ClassifyHardness(const SqlQuery& gold);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_SQL_SPIDER_HARDNESS_H_
