// The command line as a function of its arguments: builds the CLI11 parser (run, check,
// validate-policy, version, help), parses, and dispatches, so tests drive it without spawning the
// binary (DESIGN.md "Command line"). `run` is handed to the caller's function.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "commands.h"
#include "run_options.h"

namespace kca {

using RunControllerFunction = std::function<int(RunOptions)>;

// `args` excludes the program name. Returns the process exit code: 0 done, 1 an input could not
// be read, 2 usage or policy error (an unknown command included).
int RunCommandLine(const std::vector<std::string>& args, CommandStreams streams,
                   const RunControllerFunction& run_controller);

}  // namespace kca
