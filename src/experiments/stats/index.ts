/**
 * The statistics engine's pure core: functions over per-arm sufficient statistics, no I/O, no
 * framework. Formulas and sources: /work/shared/notes/anchors-registry-rollout-stats.md §5 and
 * DESIGN.md, Statistics. Golden values: tests/golden/make_stats_reference.py (scipy,
 * statsmodels, numpy). Convention everywhere: control first, differences are treatment − control.
 */
export {
  type ArmEstimate,
  type LiftResult,
  meanArmEstimate,
  proportionArmEstimate,
  ratioArmEstimate,
  relativeLift,
  relativeLiftMeans,
  relativeLiftProportions,
  relativeLiftRatios,
} from "./lift.js";
export { holmAdjust, holmReject } from "./multiple.js";
export {
  type MeanDesign,
  mdeMean,
  mdeProportion,
  type PowerOptions,
  powerAt,
  type SampleSize,
  sampleSizeMean,
  sampleSizeProportion,
} from "./power.js";
export {
  type Proportion,
  type ProportionTestVariance,
  type RateInterval,
  type TwoProportionOptions,
  type TwoProportionResult,
  twoProportions,
  wilsonInterval,
} from "./proportions.js";
export {
  type LogRatioResult,
  latencyPercentiles,
  logRatio,
  quantile,
  quantiles,
  summarizeLog,
} from "./quantiles.js";
export { type RatioDifferenceResult, type RatioEstimate, ratioDifference, ratioEstimate } from "./ratio.js";
export { breakEven, type RoiInput, type RoiResult } from "./roi.js";
export {
  type ConfidenceSequenceInput,
  type ConfidenceSequenceResult,
  confidenceSequence,
  csRho,
  csWidthRatio,
  DEFAULT_TUNING_N,
  type MsprtInput,
  msprtInterval,
  msprtLogLikelihoodRatio,
  msprtPValue,
  msprtTau2,
} from "./sequential.js";
export {
  type SequentialSrmOptions,
  type SequentialSrmResult,
  SRM_THRESHOLD,
  type SrmResult,
  sequentialSrm,
  srmCheck,
} from "./srm.js";
export {
  checkMeanSummary,
  checkRatioSummary,
  EMPTY_MEAN,
  EMPTY_RATIO,
  type MeanSummary,
  mean,
  mergeMean,
  mergeRatio,
  type RatioMoments,
  type RatioSummary,
  ratioMoments,
  sampleVariance,
  summarize,
  summarizeBinary,
  summarizeRatio,
} from "./summary.js";
export { DEFAULT_ALPHA, type Interval } from "./util.js";
export { type WelchResult, welchTest } from "./welch.js";
