// Exit statuses of the `flashmoe` executable (docs/cli.md lists them).
#pragma once

namespace flashmoe::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // flashmoe::Error: refused or failed request
inline constexpr int kExitUsage = 2;        // malformed command line
inline constexpr int kExitCheckFailed = 3;  // --check / gradcheck beyond tolerance

}  // namespace flashmoe::cli
