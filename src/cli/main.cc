#include <cstdio>

#include "cli/commands.h"
#include "engine/error.h"

int main(int argc, char** argv) {
  CLI::App app{"mlfaas - serverless machine-learning inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mlfaas 0.1.0");
  mlfaas::cli::register_tokenize(app);
  mlfaas::cli::register_generate(app);
  mlfaas::cli::register_predict(app);
  mlfaas::cli::register_compile(app);
  mlfaas::cli::register_classic(app);
  mlfaas::cli::register_serve(app);
  mlfaas::cli::register_package(app);
  mlfaas::cli::register_models(app);
  mlfaas::cli::register_metrics(app);
  mlfaas::cli::register_eval(app);
  mlfaas::cli::register_loadtest(app);
  mlfaas::cli::register_experiment(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const mlfaas::cli::CliExit& e) {
    if (e.what()[0] != '\0') std::fprintf(stderr, "mlfaas: %s\n", e.what());
    return e.code;
  } catch (const mlfaas::FormatError& e) {
    std::fprintf(stderr, "mlfaas: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlfaas: %s\n", e.what());
    return 1;
  }
  return 0;
}
