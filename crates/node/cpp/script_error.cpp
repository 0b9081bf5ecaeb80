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
#include <algorithm>
#include <exception>
#include <ios>
#include <span>
#include <string>
#include <vector>

extern "C" {

/// Core's STANDARD_SCRIPT_VERIFY_FLAGS, the flags its mempool verifies scripts with.
uint64_t blvm_standard_script_verify_flags()
{
    return STANDARD_SCRIPT_VERIFY_FLAGS.as_int();
}

/// Writes `text` NUL-terminated, truncated to `cap` bytes, into `out`.
static void write_text(const std::string& text, char* out, size_t cap)
{
    if (cap == 0) return;
    const size_t n = std::min(text.size(), cap - 1);
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

/// The transaction and its spent outputs, parsed, with the signature-hash data computed once.
struct Parsed {
    CTransaction tx;
    PrecomputedTransactionData txdata;
};

/// Parses the serialized transaction `tx` (with witness) and the outputs it spends, `spent`
/// (a compact-size count, then each output as in a transaction). Throws if they do not parse,
/// have trailing bytes, or the number of outputs is not the number of inputs.
static Parsed parse(const unsigned char* tx, size_t tx_len, const unsigned char* spent, size_t spent_len)
{
    DataStream tx_stream{std::span{tx, tx_len}};
    CTransaction ctx{deserialize, TX_WITH_WITNESS, tx_stream};
    if (!tx_stream.empty()) throw std::ios_base::failure("trailing transaction bytes");
    DataStream spent_stream{std::span{spent, spent_len}};
    std::vector<CTxOut> spent_outputs;
    spent_stream >> spent_outputs;
    if (!spent_stream.empty()) throw std::ios_base::failure("trailing spent output bytes");
    if (spent_outputs.size() != ctx.vin.size()) throw std::ios_base::failure("spent outputs do not match the inputs");
    Parsed p{std::move(ctx), {}};
    p.txdata.Init(p.tx, std::move(spent_outputs));
    return p;
}

/// Core's VerifyScript for input `index` of `p` under `flags` (CScriptCheck without the caches).
static ScriptError verify(const Parsed& p, unsigned int index, uint64_t flags)
{
    const CTxOut& prev = p.txdata.m_spent_outputs[index];
    const GenericTransactionSignatureChecker<CTransaction> checker{&p.tx, index, prev.nValue, p.txdata, MissingDataBehavior::FAIL};
    ScriptError error{SCRIPT_ERR_UNKNOWN_ERROR};
    const CTxIn& in = p.tx.vin[index];
    if (VerifyScript(in.scriptSig, prev.scriptPubKey, &in.scriptWitness, script_verify_flags::from_int(flags), checker, &error)) {
        return SCRIPT_ERR_OK;
    }
    return error;
}

/// Verifies input `index` of the serialized transaction `tx`, whose inputs spend the outputs
/// serialized in `spent`, under `flags`. Returns Core's ScriptError code (0 when the script
/// passes) and writes its ScriptErrorString into `out` (`cap` bytes, NUL-terminated).
/// Returns -1 when the data cannot be parsed, does not fit together or `index` is no input.
int blvm_script_error(const unsigned char* tx, size_t tx_len, const unsigned char* spent, size_t spent_len,
                      unsigned int index, uint64_t flags, char* out, size_t cap)
{
    write_text("", out, cap);
    try {
        const Parsed p = parse(tx, tx_len, spent, spent_len);
        if (index >= p.tx.vin.size()) return -1;
        const ScriptError error = verify(p, index, flags);
        write_text(ScriptErrorString(error), out, cap);
        return static_cast<int>(error);
    } catch (const std::exception&) {
        return -1;
    }
}

/// Verifies every input of `tx` in order under `flags`, as Core's CheckInputScripts, parsing
/// the transaction and computing its signature-hash data once. Returns 0 when all pass; else
/// the first failing input's ScriptError code, its index in `*failed` and its text in `out`.
/// Returns -1 when the data cannot be parsed or does not fit together.
int blvm_first_script_error(const unsigned char* tx, size_t tx_len, const unsigned char* spent, size_t spent_len,
                            uint64_t flags, unsigned int* failed, char* out, size_t cap)
{
    write_text("", out, cap);
    try {
        const Parsed p = parse(tx, tx_len, spent, spent_len);
        for (unsigned int i = 0; i < p.tx.vin.size(); ++i) {
            const ScriptError error = verify(p, i, flags);
            if (error != SCRIPT_ERR_OK) {
                *failed = i;
                write_text(ScriptErrorString(error), out, cap);
                return static_cast<int>(error);
            }
        }
        return 0;
    } catch (const std::exception&) {
        return -1;
    }
}

} // extern "C"
