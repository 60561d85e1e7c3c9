// The one error type of the engine; the bindings map its kind to a walle.Error subclass.
#pragma once
#include <stdexcept>
#include <string>

namespace walle {

enum class ErrorKind {
  Invalid,      // a wrong argument or an inconsistent graph       -> walle.Error
  Model,        // corrupt, truncated or hostile model file          -> walle.ModelError
  Unsupported,  // an operator or attribute this build cannot run    -> walle.UnsupportedOpError
  Input,        // wrong input name, shape or dtype at run time      -> walle.InputError
  Backend,      // a backend or instruction set that is unavailable  -> walle.BackendError
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace walle

// Throws walle::Error(kind, message) unless cond holds; message is any std::string expression.
#define WALLE_CHECK(cond, kind, message)                                    \
  do {                                                                      \
    if (!(cond)) throw ::walle::Error(::walle::ErrorKind::kind, (message)); \
  } while (0)
