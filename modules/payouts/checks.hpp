#pragma once
// Invariant checks read as a list of queries, each row of which is one problem.
#include <souk/db/connection.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace souk::payouts {

// Runs sql and appends describe(row) for every row it returns.
template <class Describe>
void collect_problems(db::connection& c, std::string_view sql, std::vector<std::string>& out,
                      Describe describe) {
    auto& st = c.prepare(sql);
    while (st.step())
        out.push_back(describe(st));
    st.reset();
}

}  // namespace souk::payouts
