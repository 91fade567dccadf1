/// Exponential moving average with bias correction, as TensorBoard's "smoothing" slider draws it:
/// `m_t = β·m_{t−1} + (1 − β)·x_t` with `m_0 = 0`, reported as `m_t / (1 − β^t)` so the first points are not
/// pulled towards zero (the same correction as Adam, Kingma & Ba 2015, §3).
///
/// - Parameters:
///   - values: the raw sequence, e.g. per-step training loss.
///   - smoothing: `β` in `0 ..< 1`; 0 returns the input, 0.9 averages over roughly the last 10 points.
/// - Returns: one smoothed value per input; a non-finite input gives `nan` at its position and is not averaged in.
/// - Throws: ``PlotError/invalidSmoothing(_:)`` when `smoothing` is outside `0 ..< 1`.
public func exponentialMovingAverage(_ values: [Double], smoothing beta: Double) throws -> [Double] {
    guard beta >= 0, beta < 1 else { throw PlotError.invalidSmoothing(beta) }
    var average = 0.0
    var weight = 1.0
    return values.map { value in
        guard value.isFinite else { return .nan }
        average = beta * average + (1 - beta) * value
        weight *= beta
        return average / (1 - weight)
    }
}
