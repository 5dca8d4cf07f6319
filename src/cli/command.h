// Subcommand registry. Each cmd_<name>.cpp defines one subcommand with a static
// Command object: setup() declares its flags on the CLI11 sub-app and returns the
// function to run once parsing succeeded. main.cpp knows none of them by name.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lmkit::cli {

using Run = std::function<int()>;
using Setup = std::function<Run(CLI::App& app)>;

struct Command {
  Command(std::string name, std::string description, Setup setup);
};

struct CommandInfo {
  std::string name, description;
  Setup setup;
};
std::vector<CommandInfo>& commands();

// Adds --threads (and LMKIT_THREADS) handling to a subcommand; call the returned
// function at the start of run() to size the thread pool.
std::function<void()> add_threads_option(CLI::App& app);

}  // namespace lmkit::cli
