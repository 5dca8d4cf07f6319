// lmkit: language models from first principles to deployment. One binary, subcommands
// registered by the cmd_*.cpp files (cli/command.h).
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <exception>

#include "cli/command.h"
#include "lmkit/core/error.h"
#include "lmkit/core/thread_pool.h"

namespace lmkit::cli {

std::vector<CommandInfo>& commands() {
  static std::vector<CommandInfo> list;
  return list;
}

Command::Command(std::string name, std::string description, Setup setup) {
  commands().push_back({std::move(name), std::move(description), std::move(setup)});
}

std::function<void()> add_threads_option(CLI::App& app) {
  auto threads = std::make_shared<int>(0);
  app.add_option("--threads", *threads,
                 "worker threads for all kernels (default: $LMKIT_THREADS, else all cores)")
      ->check(CLI::Range(1, 1024));
  return [threads] { set_num_threads(*threads); };
}

}  // namespace lmkit::cli

int main(int argc, char** argv) {
  using namespace lmkit::cli;
  CLI::App app{"lmkit: language models from first principles to deployment"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lmkit 0.1.0");
  auto& list = commands();
  std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, Run>> subs;
  for (auto& c : list) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    subs.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  try {
    for (auto& [sub, run] : subs)
      if (sub->parsed()) return run();
  } catch (const lmkit::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
