/// The op that produced a tensor, with what its backward pass needs. (Filled in by the engine.)
public indirect enum Op {
    case reshape(Tensor)
}
