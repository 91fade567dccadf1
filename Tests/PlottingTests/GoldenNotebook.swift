/// The expected Markdown of the notebook written in `NotebookWriterTests` (a golden file kept as Swift source so
/// SwiftPM needs no resource declaration for it).
let goldenNotebook = #"""
    # SSKD on Fashion-MNIST

    ```sskd
    [1] sskd> load teacher=resnet56.safetensors
    ```

    ```text
    teacher: 0.85M parameters
    ```

    ```sskd
    [2] sskd> plot loss
    plot acc
    ```

    ![plot 2](out_files/plot-2.png)

    ![plot 2-2](out_files/plot-2-2.png)

    ````sskd
    [3] sskd> echo ```
    ````

    ````text
    ```
    ````

    """#
