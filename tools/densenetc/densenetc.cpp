//===- densenetc.cpp - The densenet compiler ------------------------------===//
//
// Turns a DenseNet description (model.json or a preset) into MLIR, a
// forward graph or statistics. Parses the command line and hands it to the
// compiler library.
//
//===----------------------------------------------------------------------===//

#include "compiler/Driver.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/InitLLVM.h"

using namespace llvm;

static cl::OptionCategory category("densenetc options");

static cl::opt<std::string> modelFile(cl::Positional, cl::init(""),
                                      cl::desc("[model.json]"),
                                      cl::cat(category));
static cl::opt<std::string>
    preset("model", cl::desc("Use a built-in model (see --list-models)"),
           cl::value_desc("name"), cl::cat(category));
static cl::opt<bool> listModels("list-models",
                                cl::desc("List the built-in models and exit"),
                                cl::cat(category));
static cl::opt<densenet::EmitKind> emit(
    "emit", cl::desc("What to write (default: plan)"),
    cl::init(densenet::EmitKind::Plan),
    cl::values(clEnumValN(densenet::EmitKind::Plan, "plan",
                          "the training plan (JSON, docs/plan-format.md)"),
               clEnumValN(densenet::EmitKind::Report, "report",
                          "a readable report of the plan on stdout (the plan "
                          "itself goes to -o when given)"),
               clEnumValN(densenet::EmitKind::Stats, "stats",
                          "JSON: parameters, FLOPs, naive activation bytes"),
               clEnumValN(densenet::EmitKind::Segments, "segments",
                          "JSON: the solver's input, every segment's options "
                          "with the bytes they keep, their peak and time"),
               clEnumValN(densenet::EmitKind::Mlir, "mlir",
                          "the model in the dn dialect"),
               clEnumValN(densenet::EmitKind::ForwardMlir, "forward-mlir",
                          "the forward graph in the tg dialect"),
               clEnumValN(densenet::EmitKind::TrainingMlir, "training-mlir",
                          "the whole training step (forward, loss, backward, "
                          "SGD) in the tg dialect")),
    cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(category));
static cl::opt<bool> perOp("per-op",
                           cl::desc("With --emit stats: list every op's cost"),
                           cl::cat(category));
static cl::opt<std::string> dataset(
    "dataset",
    cl::desc("Set input shape and classes for a dataset: cifar10 (3x32x32, "
             "10), fashion-mnist (1x28x28, 10)"),
    cl::value_desc("name"), cl::cat(category));
static cl::opt<std::string> input("input",
                                  cl::desc("Input shape, e.g. 3x32x32"),
                                  cl::value_desc("CxHxW"), cl::cat(category));
static cl::opt<int64_t> classes("classes", cl::desc("Number of classes"),
                                cl::value_desc("N"), cl::cat(category));
static cl::opt<int64_t> batchSize("batch-size", cl::desc("Batch size"),
                                  cl::value_desc("N"), cl::cat(category));
static cl::opt<std::string> dtype("dtype",
                                  cl::desc("Activation dtype: f32, bf16, f16"),
                                  cl::value_desc("type"), cl::cat(category));

static cl::opt<bool> timing(
    "timing",
    cl::desc("Print how long each phase took (MLIR's timing report: the "
             "passes, the planner's solves, realizations and layouts) to "
             "stderr"),
    cl::cat(category));

static cl::OptionCategory planCategory("memory planning options");
static cl::opt<std::string> memBudget(
    "mem-budget",
    cl::desc("Memory budget of the training step: 12GB, 11.5GiB, 800MB, "
             "1073741824 (KB/MB/GB decimal, KiB/MiB/GiB binary; default: "
             "unlimited)"),
    cl::value_desc("size"), cl::cat(planCategory));
static cl::opt<std::string> target(
    "target",
    cl::desc("Device profile: cuda (default), h200, a100-80gb, v100-16gb, "
             "titan-x-12gb, cpu"),
    cl::value_desc("name"), cl::init("cuda"), cl::cat(planCategory));
static cl::opt<std::string> reserve(
    "reserve",
    cl::desc("Memory the process holds outside the arena (CUDA context, "
             "library handles); overrides the target's"),
    cl::value_desc("size"), cl::cat(planCategory));
static cl::opt<std::string> policy(
    "policy",
    cl::desc("optimal (least recompute within the budget, default), keep "
             "(recompute nothing), none (naive: nothing recomputed, "
             "concatenations copied), all (recompute every dense layer), "
             "sqrt (Chen et al.)"),
    cl::value_desc("name"), cl::init("optimal"), cl::cat(planCategory));
static cl::opt<std::string> trace(
    "trace",
    cl::desc("Also write the plan's predicted timeline as Chrome trace JSON "
             "(open in Perfetto): spans per step, live bytes by category"),
    cl::value_desc("file"), cl::cat(planCategory));
static cl::opt<std::string> memoryPlot(
    "memory-plot",
    cl::desc("Also write an SVG of live memory over the steps, with the "
             "budget and the recompute steps marked"),
    cl::value_desc("file"), cl::cat(planCategory));
static cl::opt<bool> minBudget(
    "min-budget", cl::desc("Print the smallest feasible budget and exit"),
    cl::cat(planCategory));
static cl::opt<bool> proveOptimal(
    "prove-optimal",
    cl::desc("Search until the plan is proven optimal (up to 64M partial "
             "plans per solve, ~700 MB) instead of settling, past 16M, for a "
             "plan within a proven bound. Every preset's plans are proven "
             "within 16M; deeper models may need this"),
    cl::cat(planCategory));

static cl::opt<unsigned> jobs(
    "j",
    cl::desc("Threads the planner may use (solver and layout; default 0: one "
             "per core). The plan is the same for every count"),
    cl::value_desc("N"), cl::init(0), cl::Prefix, cl::cat(planCategory));
static cl::alias jobsLong("jobs", cl::desc("Alias for -j"), cl::aliasopt(jobs),
                          cl::cat(planCategory));

static cl::OptionCategory sgdCategory(
    "training step options (torch.optim.SGD's meaning; used by the training "
    "step and recorded in the plan)");
static cl::opt<double> momentum("momentum", cl::desc("SGD momentum"),
                                cl::init(0.9), cl::cat(sgdCategory));
static cl::opt<double> weightDecay("weight-decay",
                                   cl::desc("L2 weight decay"), cl::init(1e-4),
                                   cl::cat(sgdCategory));
static cl::opt<bool> nesterov("nesterov", cl::desc("Use Nesterov momentum"),
                              cl::cat(sgdCategory));
static cl::opt<bool> decayNormAndBias(
    "decay-norm-and-bias",
    cl::desc("Apply weight decay to batch-norm parameters and the classifier "
             "bias too (default true; =false exempts them)"),
    cl::init(true), cl::cat(sgdCategory));
static cl::opt<double> lossScale(
    "loss-scale",
    cl::desc("f16 plans: the initial dynamic loss scale (default 65536); a "
             "step whose gradients overflow is skipped and the scale halved, "
             "and it doubles after 2000 finite steps"),
    cl::cat(sgdCategory));
static cl::opt<int64_t> worldSize(
    "world-size",
    cl::desc("Data-parallel ranks (mpirun -np N densenet-run): gradients are "
             "averaged over them in all-reduce buckets the plan lays out; the "
             "budget is per rank (default 1)"),
    cl::init(1), cl::cat(sgdCategory));
static cl::opt<std::string> bucketSize(
    "bucket-size",
    cl::desc("Gradients per all-reduce bucket with --world-size > 1 "
             "(default 25MiB, as PyTorch DDP's bucket_cap_mb); with "
             "--world-size 1 it adds the all-reduces anyway, over one rank "
             "(a test of the all-reduce path on one device)"),
    cl::value_desc("size"), cl::cat(sgdCategory));

template <typename T, typename Option>
static std::optional<T> given(const Option &option) {
  if (option.getNumOccurrences() == 0)
    return std::nullopt;
  return T(option.getValue());
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](raw_ostream &os) {
    os << "densenetc (densenet) 0.1, plan format 1, built with LLVM "
       << LLVM_VERSION_STRING << "\n";
  });
  cl::HideUnrelatedOptions({&category, &planCategory, &sgdCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "densenetc: compile a DenseNet description\n\n"
      "  densenetc --list-models\n"
      "  densenetc --mem-budget 12GB model.json -o plan.json\n"
      "  densenetc --mem-budget 500MB --target cpu --model densenet-bc-100 "
      "--emit report\n"
      "  densenetc --model densenet264 --min-budget\n"
      "  densenetc --model densenet121 --emit stats\n"
      "  densenetc model.json --dataset cifar10 --emit forward-mlir\n"
      "  densenetc --model densenet-bc-100 --emit training-mlir --nesterov\n"
      "  densenetc --target cpu --model densenet-bc-100 --world-size 2 -o plan\n\n"
      "Flags override the model file or preset: --dataset first, then\n"
      "--input/--classes, then --batch-size/--dtype.\n");

  densenet::DriverOptions options;
  options.modelFile = modelFile;
  options.preset = preset;
  options.listModels = listModels;
  options.emit = emit;
  options.outputFile = outputFile;
  options.perOp = perOp;
  options.dataset = given<std::string>(dataset);
  options.input = given<std::string>(input);
  options.numClasses = given<int64_t>(classes);
  options.batchSize = given<int64_t>(batchSize);
  options.dtype = given<std::string>(dtype);
  options.momentum = momentum;
  options.weightDecay = weightDecay;
  options.nesterov = nesterov;
  options.decayNormAndBias = decayNormAndBias;
  options.lossScale = given<double>(lossScale);
  options.worldSize = worldSize;
  options.bucketSize = given<std::string>(bucketSize);
  options.memBudget = given<std::string>(memBudget);
  options.target = target;
  options.reserve = given<std::string>(reserve);
  options.policy = policy;
  options.minBudget = minBudget;
  options.proveOptimal = proveOptimal;
  options.trace = given<std::string>(trace);
  options.memoryPlot = given<std::string>(memoryPlot);
  options.timing = timing;
  options.threads = jobs;
  return densenet::runDensenetc(options, errs());
}
