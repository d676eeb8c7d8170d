// kube-csr-approver: command-line entry point (the parser and dispatch are in cli.cc).
#include <openssl/crypto.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli.h"
#include "run_command.h"

int main(int argc, char** argv) {
  // No OpenSSL clean-up at exit: it would run before cpprestsdk's I/O thread is joined (by a
  // static destructor) and so strand that thread's OpenSSL state; without it, the thread's own
  // exit frees that state.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
  const std::vector<std::string> args(argv + 1, argv + argc);
  return kca::RunCommandLine(args, {std::cin, std::cout, std::cerr}, [](kca::RunOptions run) {
    return kca::RunController(std::move(run));
  });
}
