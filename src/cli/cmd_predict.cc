#include "cli/commands.h"

namespace mlfaas::cli {
// Placeholder until the models lands (same session); refuses clearly rather than pretending.
void register_predict(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Run a model (not yet available)");
  cmd->callback([] { throw CliExit(1, "predict: not available in this build yet"); });
}
}  // namespace mlfaas::cli
