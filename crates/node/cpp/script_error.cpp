// Names the script error of one failing input with Bitcoin Core's own interpreter.
//
// libbitcoinkernel's C API says only whether an input's script passes. This shim, linked against
// the same static libbitcoinkernel.a, runs Core's VerifyScript on one input and returns its
// ScriptError code and ScriptErrorString text, the words Core puts in its reject reasons.
// It is called only after the kernel has found an input invalid, so the success path is unchanged.

#include <policy/policy.h>
#include <primitives/transaction.h>
#include <script/interpreter.h>
#include <script/script_error.h>
#include <serialize.h>
#include <streams.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

extern "C" {

/// Core's STANDARD_SCRIPT_VERIFY_FLAGS, the flags its mempool verifies scripts with.
uint64_t blvm_standard_script_verify_flags()
{
    return STANDARD_SCRIPT_VERIFY_FLAGS.as_int();
}

/// Verifies input `index` of the serialized transaction `tx` (with witness), whose inputs spend
/// the outputs serialized in `spent` (a compact-size count, then each output as in a
/// transaction), under `flags`. Returns Core's ScriptError code (0 when the script passes) and
/// writes its ScriptErrorString, NUL-terminated and truncated to `cap` bytes, into `out`.
/// Returns -1 when the data cannot be parsed or does not fit together.
int blvm_script_error(const unsigned char* tx, size_t tx_len, const unsigned char* spent, size_t spent_len,
                      unsigned int index, uint64_t flags, char* out, size_t cap)
{
    if (cap > 0) out[0] = '\0';
    try {
        DataStream tx_stream{std::span{tx, tx_len}};
        const CTransaction ctx{deserialize, TX_WITH_WITNESS, tx_stream};
        if (!tx_stream.empty()) return -1;
        DataStream spent_stream{std::span{spent, spent_len}};
        std::vector<CTxOut> spent_outputs;
        spent_stream >> spent_outputs;
        if (!spent_stream.empty()) return -1;
        if (spent_outputs.size() != ctx.vin.size() || index >= ctx.vin.size()) return -1;
        const CTxOut prev = spent_outputs[index];
        PrecomputedTransactionData txdata;
        txdata.Init(ctx, std::move(spent_outputs));
        const GenericTransactionSignatureChecker<CTransaction> checker{&ctx, index, prev.nValue, txdata, MissingDataBehavior::FAIL};
        ScriptError error{SCRIPT_ERR_UNKNOWN_ERROR};
        const CTxIn& in = ctx.vin[index];
        const bool ok = VerifyScript(in.scriptSig, prev.scriptPubKey, &in.scriptWitness,
                                     script_verify_flags::from_int(flags), checker, &error);
        const ScriptError named = ok ? SCRIPT_ERR_OK : error;
        const std::string text = ScriptErrorString(named);
        if (cap > 0) {
            const size_t n = std::min(text.size(), cap - 1);
            std::memcpy(out, text.data(), n);
            out[n] = '\0';
        }
        return static_cast<int>(named);
    } catch (const std::exception&) {
        return -1;
    }
}

} // extern "C"
