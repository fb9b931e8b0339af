// SPDX-License-Identifier: BSL-1.0
// tests/model/model_epilogue.hpp — include after the lfkit structure headers (see
// model_prelude.hpp): includes Relacy and the adapter.
#ifndef LFKIT_TESTS_MODEL_EPILOGUE_HPP
#define LFKIT_TESTS_MODEL_EPILOGUE_HPP

#include "relacy_adapter.hpp"

#endif  // LFKIT_TESTS_MODEL_EPILOGUE_HPP
