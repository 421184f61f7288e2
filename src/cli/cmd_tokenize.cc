#include "cli/commands.h"

namespace mlfaas::cli {
// Placeholder until the tokenizer lands (same session); refuses clearly rather than pretending.
void register_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "WordPiece-tokenize JSONL text (not yet available)");
  cmd->callback([] { throw CliExit(1, "tokenize: not available in this build yet"); });
}
}  // namespace mlfaas::cli
