;; The fast VQ-VAE path's arithmetic kernels (WebAssembly SIMD128 with relaxed-SIMD's fused
;; multiply-add, which halves the arithmetic instructions of a convolution; Node 20 enables it by a
;; V8 flag, see conv-arena.ts). Compiled to conv-kernels.wasm by `npm run build:wasm`; a test checks that the
;; committed binary is this source compiled. All pointers and strides are byte offsets into the
;; memory the module imports; every value is float32, activations channels-last `[T, C]`.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; A 1-D convolution over `rows` output rows, 8 output channels (one panel) at a time:
  ;;
  ;;   y[t, c] = act(b[c] + Σ_tap Σ_i x[t·xs + tap·xd + i] · W[tap, i, c])   (+ y[t, c] if $res)
  ;;
  ;; `x` points at the input read by output row 0's first tap (the caller keeps zero rows around
  ;; each activation, so padding is just reading them); `xs` is the input bytes between output rows
  ;; (stride × the input's row bytes), `xd` between taps (dilation × row bytes).
  ;;
  ;; W is packed per panel p of 8 output columns: taps × nIn rows of 8 floats (32 bytes), read front
  ;; to back; `b` has 8 floats per panel. `outFloor` is 0 for a ReLU on the output and -inf for none
  ;; (f32x4.pmax is one instruction, a ReLU with them). With `res` set the sum is added to what y
  ;; holds (the residual branch, written in place). An input ReLU is the caller's (see `resblock`):
  ;; one pmax per row and channel here cost a 3-tap conv 10%.
  ;;
  ;; Rows go four at a time through a panel (8 accumulators: each weight load serves four rows), in
  ;; tiles of 32 rows so the tile's input stays in the L1 cache while every panel passes over it:
  ;; the 4x8 blocking of XNNPACK's GEMM kernels for WebAssembly SIMD, its inputs broadcast by
  ;; loads rather than shuffles (see the channel loop).
  (func $conv (export "conv")
    (param $w i32) (param $b i32) (param $x i32) (param $xs i32) (param $xd i32) (param $taps i32)
    (param $nIn i32) (param $y i32) (param $ys i32) (param $panels i32) (param $rows i32)
    (param $outFloor f32) (param $res i32)
    (local $t0 i32) (local $t1 i32) (local $p i32) (local $t i32) (local $tap i32)
    (local $wk i32) (local $wend i32) (local $panelBytes i32) (local $tapBytes i32)
    (local $xa i32) (local $xb i32) (local $xc i32) (local $xe i32) (local $yo i32) (local $bp i32)
    (local $fout v128) (local $bias0 v128) (local $bias1 v128)
    (local $s v128) (local $w0 v128) (local $w1 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $fout (f32x4.splat (local.get $outFloor)))
    (local.set $tapBytes (i32.shl (local.get $nIn) (i32.const 5)))
    (local.set $panelBytes (i32.mul (local.get $taps) (local.get $tapBytes)))
    (local.set $t0 (i32.const 0))
    (block $tilesDone
      (loop $tile
        (br_if $tilesDone (i32.ge_u (local.get $t0) (local.get $rows)))
        (local.set $t1 (i32.add (local.get $t0) (i32.const 32)))
        (if (i32.gt_u (local.get $t1) (local.get $rows)) (then (local.set $t1 (local.get $rows))))
        (local.set $p (i32.const 0))
        (block $panelsDone
          (loop $panel
            (br_if $panelsDone (i32.ge_u (local.get $p) (local.get $panels)))
            (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $p) (i32.const 5))))
            (local.set $bias0 (v128.load (local.get $bp)))
            (local.set $bias1 (v128.load offset=16 (local.get $bp)))
            (local.set $t (local.get $t0))
            ;; Four rows at a time: a0/a1 row t, a2/a3 row t+1, a4/a5 row t+2, a6/a7 row t+3.
            (block $quadsDone
              (loop $quad
                (br_if $quadsDone (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $t1)))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $a1 (v128.const i32x4 0 0 0 0))
                (local.set $a2 (v128.const i32x4 0 0 0 0))
                (local.set $a3 (v128.const i32x4 0 0 0 0))
                (local.set $a4 (v128.const i32x4 0 0 0 0))
                (local.set $a5 (v128.const i32x4 0 0 0 0))
                (local.set $a6 (v128.const i32x4 0 0 0 0))
                (local.set $a7 (v128.const i32x4 0 0 0 0))
                (local.set $wk (i32.add (local.get $w) (i32.mul (local.get $p) (local.get $panelBytes))))
                (local.set $tap (i32.const 0))
                (block $tapsDone
                  (loop $tapLoop
                    (br_if $tapsDone (i32.ge_u (local.get $tap) (local.get $taps)))
                    (local.set $xa (i32.add (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $xs)))
                                            (i32.mul (local.get $tap) (local.get $xd))))
                    (local.set $xb (i32.add (local.get $xa) (local.get $xs)))
                    (local.set $xc (i32.add (local.get $xb) (local.get $xs)))
                    (local.set $xe (i32.add (local.get $xc) (local.get $xs)))
                    (local.set $wend (i32.add (local.get $wk) (local.get $tapBytes)))
                    ;; One input channel per step: its value in each of the four rows splat across the lanes
                    ;; (a broadcast load) against the panel's weight row. These 14 live vectors fit the 15
                    ;; SIMD registers V8 allocates on x64; unrolled over four channels (one load and four
                    ;; shuffles per row), V8 hoists all the loads above the multiply-adds and spills
                    ;; accumulators: 38 GFLOP/s against 54 this way (3-tap 64->64 conv, one thread).
                    (block $kDone
                      (loop $k
                        (br_if $kDone (i32.ge_u (local.get $wk) (local.get $wend)))
                        (local.set $w0 (v128.load (local.get $wk)))
                        (local.set $w1 (v128.load offset=16 (local.get $wk)))
                        (local.set $s (v128.load32_splat (local.get $xa)))
                        (local.set $a0 (f32x4.relaxed_madd (local.get $w0) (local.get $s) (local.get $a0)))
                        (local.set $a1 (f32x4.relaxed_madd (local.get $w1) (local.get $s) (local.get $a1)))
                        (local.set $s (v128.load32_splat (local.get $xb)))
                        (local.set $a2 (f32x4.relaxed_madd (local.get $w0) (local.get $s) (local.get $a2)))
                        (local.set $a3 (f32x4.relaxed_madd (local.get $w1) (local.get $s) (local.get $a3)))
                        (local.set $s (v128.load32_splat (local.get $xc)))
                        (local.set $a4 (f32x4.relaxed_madd (local.get $w0) (local.get $s) (local.get $a4)))
                        (local.set $a5 (f32x4.relaxed_madd (local.get $w1) (local.get $s) (local.get $a5)))
                        (local.set $s (v128.load32_splat (local.get $xe)))
                        (local.set $a6 (f32x4.relaxed_madd (local.get $w0) (local.get $s) (local.get $a6)))
                        (local.set $a7 (f32x4.relaxed_madd (local.get $w1) (local.get $s) (local.get $a7)))
                        (local.set $xa (i32.add (local.get $xa) (i32.const 4)))
                        (local.set $xb (i32.add (local.get $xb) (i32.const 4)))
                        (local.set $xc (i32.add (local.get $xc) (i32.const 4)))
                        (local.set $xe (i32.add (local.get $xe) (i32.const 4)))
                        (local.set $wk (i32.add (local.get $wk) (i32.const 32)))
                        (br $k)))
                    (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
                    (br $tapLoop)))
                ;; Bias after the sum (as tfjs's fused conv), activation, then the residual.
                (local.set $yo (i32.add (i32.add (local.get $y) (i32.mul (local.get $t) (local.get $ys)))
                                        (i32.shl (local.get $p) (i32.const 5))))
                (local.set $a0 (f32x4.pmax (f32x4.add (local.get $a0) (local.get $bias0)) (local.get $fout)))
                (local.set $a1 (f32x4.pmax (f32x4.add (local.get $a1) (local.get $bias1)) (local.get $fout)))
                (local.set $a2 (f32x4.pmax (f32x4.add (local.get $a2) (local.get $bias0)) (local.get $fout)))
                (local.set $a3 (f32x4.pmax (f32x4.add (local.get $a3) (local.get $bias1)) (local.get $fout)))
                (local.set $a4 (f32x4.pmax (f32x4.add (local.get $a4) (local.get $bias0)) (local.get $fout)))
                (local.set $a5 (f32x4.pmax (f32x4.add (local.get $a5) (local.get $bias1)) (local.get $fout)))
                (local.set $a6 (f32x4.pmax (f32x4.add (local.get $a6) (local.get $bias0)) (local.get $fout)))
                (local.set $a7 (f32x4.pmax (f32x4.add (local.get $a7) (local.get $bias1)) (local.get $fout)))
                (local.set $xa (i32.add (local.get $yo) (local.get $ys)))
                (local.set $xb (i32.add (local.get $xa) (local.get $ys)))
                (local.set $xc (i32.add (local.get $xb) (local.get $ys)))
                (if (local.get $res)
                  (then
                    (local.set $a0 (f32x4.add (v128.load (local.get $yo)) (local.get $a0)))
                    (local.set $a1 (f32x4.add (v128.load offset=16 (local.get $yo)) (local.get $a1)))
                    (local.set $a2 (f32x4.add (v128.load (local.get $xa)) (local.get $a2)))
                    (local.set $a3 (f32x4.add (v128.load offset=16 (local.get $xa)) (local.get $a3)))
                    (local.set $a4 (f32x4.add (v128.load (local.get $xb)) (local.get $a4)))
                    (local.set $a5 (f32x4.add (v128.load offset=16 (local.get $xb)) (local.get $a5)))
                    (local.set $a6 (f32x4.add (v128.load (local.get $xc)) (local.get $a6)))
                    (local.set $a7 (f32x4.add (v128.load offset=16 (local.get $xc)) (local.get $a7)))))
                (v128.store (local.get $yo) (local.get $a0))
                (v128.store offset=16 (local.get $yo) (local.get $a1))
                (v128.store (local.get $xa) (local.get $a2))
                (v128.store offset=16 (local.get $xa) (local.get $a3))
                (v128.store (local.get $xb) (local.get $a4))
                (v128.store offset=16 (local.get $xb) (local.get $a5))
                (v128.store (local.get $xc) (local.get $a6))
                (v128.store offset=16 (local.get $xc) (local.get $a7))
                (local.set $t (i32.add (local.get $t) (i32.const 4)))
                (br $quad)))
            ;; The tile's last rows one at a time.
            (block $singlesDone
              (loop $single
                (br_if $singlesDone (i32.ge_u (local.get $t) (local.get $t1)))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $a1 (v128.const i32x4 0 0 0 0))
                (local.set $wk (i32.add (local.get $w) (i32.mul (local.get $p) (local.get $panelBytes))))
                (local.set $tap (i32.const 0))
                (block $tapsDone
                  (loop $tapLoop
                    (br_if $tapsDone (i32.ge_u (local.get $tap) (local.get $taps)))
                    (local.set $xa (i32.add (i32.add (local.get $x) (i32.mul (local.get $t) (local.get $xs)))
                                            (i32.mul (local.get $tap) (local.get $xd))))
                    (local.set $wend (i32.add (local.get $wk) (local.get $tapBytes)))
                    (block $kDone
                      (loop $k
                        (br_if $kDone (i32.ge_u (local.get $wk) (local.get $wend)))
                        (local.set $s (v128.load32_splat (local.get $xa)))
                        (local.set $a0 (f32x4.relaxed_madd (v128.load (local.get $wk)) (local.get $s) (local.get $a0)))
                        (local.set $a1 (f32x4.relaxed_madd (v128.load offset=16 (local.get $wk)) (local.get $s) (local.get $a1)))
                        (local.set $xa (i32.add (local.get $xa) (i32.const 4)))
                        (local.set $wk (i32.add (local.get $wk) (i32.const 32)))
                        (br $k)))
                    (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
                    (br $tapLoop)))
                (local.set $yo (i32.add (i32.add (local.get $y) (i32.mul (local.get $t) (local.get $ys)))
                                        (i32.shl (local.get $p) (i32.const 5))))
                (local.set $a0 (f32x4.pmax (f32x4.add (local.get $a0) (local.get $bias0)) (local.get $fout)))
                (local.set $a1 (f32x4.pmax (f32x4.add (local.get $a1) (local.get $bias1)) (local.get $fout)))
                (if (local.get $res)
                  (then
                    (local.set $a0 (f32x4.add (v128.load (local.get $yo)) (local.get $a0)))
                    (local.set $a1 (f32x4.add (v128.load offset=16 (local.get $yo)) (local.get $a1)))))
                (v128.store (local.get $yo) (local.get $a0))
                (v128.store offset=16 (local.get $yo) (local.get $a1))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $single)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $panel)))
        (local.set $t0 (local.get $t1))
        (br $tile))))

  ;; A 3-tap convolution with dilation d and stride 1 (padding d) by Winograd's minimal filtering
  ;; algorithm F(4,3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks", in
  ;; one dimension): four outputs from six inputs with six multiplications per input-output channel
  ;; pair, against twelve for the direct form. Dilation only changes which rows meet: output rows
  ;; t, t+d, t+2d, t+3d come from input rows t−d … t+4d. Rows go in groups of 4d, whose d tiles
  ;; (t = group start + r, r < d) read and write whole blocks of consecutive rows.
  ;;
  ;;   U_k = Bᵀ·relu?(x)   (per input channel, k < 6)        the input transform, into scratch
  ;;   M_k = U_k · V_k      (V_k = G·w, packed by the caller)  six 1-tap `conv`s, into scratch
  ;;   y   = act(Aᵀ·M + b)                                     the output transform
  ;;
  ;; `groups` groups of 4d output rows, `per` groups at a time (their tiles are the rows of each
  ;; product: enough for the kernel's four-row blocks, few enough to stay in the L2 cache). `v`
  ;; holds six weight blocks of `panels` panels × nIn rows × 8 floats, `zero` 8·panels zeros (the
  ;; products' bias). `x` points at the input row read by output row 0's first tap, `xs` is the
  ;; input's row bytes (nIn·4); y and ys as for `conv`; `inFloor` and `outFloor` the ReLU floors of
  ;; the input and the output (0, or -inf for none). `scratch` holds the six U blocks then the six
  ;; M blocks, of ⌈per·d / 4⌉·4 rows each (nIn·4 and panels·32 bytes a row); the rows past a
  ;; chunk's tiles are read by the products (results unused), so the caller zeroes them once.
  (func $winograd (export "winograd")
    (param $v i32) (param $zero i32) (param $b i32) (param $x i32) (param $xs i32) (param $d i32)
    (param $nIn i32) (param $y i32) (param $ys i32) (param $panels i32) (param $groups i32)
    (param $per i32) (param $scratch i32) (param $inFloor f32) (param $outFloor f32)
    (local $g0 i32) (local $n i32) (local $rows i32) (local $gi i32) (local $r i32) (local $k i32)
    (local $xd i32) (local $yd i32) (local $groupX i32) (local $groupY i32)
    (local $uStride i32) (local $mStride i32) (local $uBlock i32) (local $mBlock i32) (local $vBlock i32)
    (local $ms i32) (local $up i32) (local $mp i32) (local $xp i32) (local $yp i32) (local $c i32)
    (local $fin v128) (local $fout v128) (local $bias v128) (local $s v128) (local $t v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $x4 v128) (local $x5 v128)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $m4 v128) (local $m5 v128)
    (local $s12 v128) (local $d12 v128) (local $s34 v128) (local $d34 v128)
    (local.set $fin (f32x4.splat (local.get $inFloor)))
    (local.set $fout (f32x4.splat (local.get $outFloor)))
    (local.set $xd (i32.mul (local.get $d) (local.get $xs)))
    (local.set $yd (i32.mul (local.get $d) (local.get $ys)))
    (local.set $groupX (i32.shl (local.get $xd) (i32.const 2)))
    (local.set $groupY (i32.shl (local.get $yd) (i32.const 2)))
    (local.set $uStride (i32.shl (local.get $nIn) (i32.const 2)))
    (local.set $mStride (i32.shl (local.get $panels) (i32.const 5)))
    (local.set $rows (i32.and (i32.add (i32.mul (local.get $per) (local.get $d)) (i32.const 3)) (i32.const -4)))
    (local.set $uBlock (i32.mul (local.get $rows) (local.get $uStride)))
    (local.set $mBlock (i32.mul (local.get $rows) (local.get $mStride)))
    (local.set $vBlock (i32.mul (local.get $nIn) (local.get $mStride)))
    (local.set $ms (i32.add (local.get $scratch) (i32.mul (local.get $uBlock) (i32.const 6))))
    (local.set $g0 (i32.const 0))
    (block $chunksDone
      (loop $chunk
        (br_if $chunksDone (i32.ge_u (local.get $g0) (local.get $groups)))
        (local.set $n (i32.sub (local.get $groups) (local.get $g0)))
        (if (i32.gt_u (local.get $n) (local.get $per)) (then (local.set $n (local.get $per))))
        ;; The tile of group gi, offset r is row gi·d + r of each U and M block.
        (local.set $up (local.get $scratch))
        (local.set $gi (i32.const 0))
        (block $inGroupsDone
          (loop $inGroup
            (br_if $inGroupsDone (i32.ge_u (local.get $gi) (local.get $n)))
            (local.set $xp (i32.add (local.get $x) (i32.mul (i32.add (local.get $g0) (local.get $gi)) (local.get $groupX))))
            (local.set $r (i32.const 0))
            (block $inTilesDone
              (loop $inTile
                (br_if $inTilesDone (i32.ge_u (local.get $r) (local.get $d)))
                (local.set $c (i32.const 0))
                (block $inChannelsDone
                  (loop $inChannel
                    (br_if $inChannelsDone (i32.ge_u (local.get $c) (local.get $uStride)))
                    (local.set $k (i32.add (local.get $xp) (local.get $c)))
                    (local.set $x0 (f32x4.pmax (v128.load (local.get $k)) (local.get $fin)))
                    (local.set $k (i32.add (local.get $k) (local.get $xd)))
                    (local.set $x1 (f32x4.pmax (v128.load (local.get $k)) (local.get $fin)))
                    (local.set $k (i32.add (local.get $k) (local.get $xd)))
                    (local.set $x2 (f32x4.pmax (v128.load (local.get $k)) (local.get $fin)))
                    (local.set $k (i32.add (local.get $k) (local.get $xd)))
                    (local.set $x3 (f32x4.pmax (v128.load (local.get $k)) (local.get $fin)))
                    (local.set $k (i32.add (local.get $k) (local.get $xd)))
                    (local.set $x4 (f32x4.pmax (v128.load (local.get $k)) (local.get $fin)))
                    (local.set $k (i32.add (local.get $k) (local.get $xd)))
                    (local.set $x5 (f32x4.pmax (v128.load (local.get $k)) (local.get $fin)))
                    ;; Bᵀ rows: (4, 0, −5, 0, 1, 0), (0, −4, −4, 1, 1, 0), (0, 4, −4, −1, 1, 0),
                    ;; (0, −2, −1, 2, 1, 0), (0, 2, −1, −2, 1, 0), (0, 4, 0, −5, 0, 1).
                    (local.set $s (f32x4.sub (local.get $x4) (local.get $x2))) ;; shared by rows 3 and 4
                    (local.set $t (f32x4.mul (f32x4.sub (local.get $x3) (local.get $x1)) (v128.const f32x4 2 2 2 2)))
                    (local.set $k (i32.add (local.get $up) (local.get $c)))
                    (v128.store (local.get $k)
                      (f32x4.add (f32x4.sub (f32x4.mul (local.get $x0) (v128.const f32x4 4 4 4 4))
                                            (f32x4.mul (local.get $x2) (v128.const f32x4 5 5 5 5)))
                                 (local.get $x4)))
                    (local.set $k (i32.add (local.get $k) (local.get $uBlock)))
                    (v128.store (local.get $k)
                      (f32x4.sub (f32x4.add (local.get $x3) (local.get $x4))
                                 (f32x4.mul (f32x4.add (local.get $x1) (local.get $x2)) (v128.const f32x4 4 4 4 4))))
                    (local.set $k (i32.add (local.get $k) (local.get $uBlock)))
                    (v128.store (local.get $k)
                      (f32x4.add (f32x4.sub (local.get $x4) (local.get $x3))
                                 (f32x4.mul (f32x4.sub (local.get $x1) (local.get $x2)) (v128.const f32x4 4 4 4 4))))
                    (local.set $k (i32.add (local.get $k) (local.get $uBlock)))
                    (v128.store (local.get $k) (f32x4.add (local.get $s) (local.get $t)))
                    (local.set $k (i32.add (local.get $k) (local.get $uBlock)))
                    (v128.store (local.get $k) (f32x4.sub (local.get $s) (local.get $t)))
                    (local.set $k (i32.add (local.get $k) (local.get $uBlock)))
                    (v128.store (local.get $k)
                      (f32x4.add (f32x4.sub (f32x4.mul (local.get $x1) (v128.const f32x4 4 4 4 4))
                                            (f32x4.mul (local.get $x3) (v128.const f32x4 5 5 5 5)))
                                 (local.get $x5)))
                    (local.set $c (i32.add (local.get $c) (i32.const 16)))
                    (br $inChannel)))
                (local.set $xp (i32.add (local.get $xp) (local.get $xs)))
                (local.set $up (i32.add (local.get $up) (local.get $uStride)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $inTile)))
            (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
            (br $inGroup)))
        ;; The six products over the chunk's tiles, rounded up to whole four-row blocks.
        (local.set $k (i32.const 0))
        (block $productsDone
          (loop $product
            (br_if $productsDone (i32.ge_u (local.get $k) (i32.const 6)))
            (call $conv (i32.add (local.get $v) (i32.mul (local.get $k) (local.get $vBlock))) (local.get $zero)
              (i32.add (local.get $scratch) (i32.mul (local.get $k) (local.get $uBlock))) (local.get $uStride) (i32.const 0)
              (i32.const 1) (local.get $nIn)
              (i32.add (local.get $ms) (i32.mul (local.get $k) (local.get $mBlock))) (local.get $mStride) (local.get $panels)
              (i32.and (i32.add (i32.mul (local.get $n) (local.get $d)) (i32.const 3)) (i32.const -4))
              (f32.const -inf) (i32.const 0))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $product)))
        (local.set $mp (local.get $ms))
        (local.set $gi (i32.const 0))
        (block $outGroupsDone
          (loop $outGroup
            (br_if $outGroupsDone (i32.ge_u (local.get $gi) (local.get $n)))
            (local.set $yp (i32.add (local.get $y) (i32.mul (i32.add (local.get $g0) (local.get $gi)) (local.get $groupY))))
            (local.set $r (i32.const 0))
            (block $outTilesDone
              (loop $outTile
                (br_if $outTilesDone (i32.ge_u (local.get $r) (local.get $d)))
                (local.set $c (i32.const 0))
                (block $outChannelsDone
                  (loop $outChannel
                    (br_if $outChannelsDone (i32.ge_u (local.get $c) (local.get $mStride)))
                    (local.set $k (i32.add (local.get $mp) (local.get $c)))
                    (local.set $m0 (v128.load (local.get $k)))
                    (local.set $k (i32.add (local.get $k) (local.get $mBlock)))
                    (local.set $m1 (v128.load (local.get $k)))
                    (local.set $k (i32.add (local.get $k) (local.get $mBlock)))
                    (local.set $m2 (v128.load (local.get $k)))
                    (local.set $k (i32.add (local.get $k) (local.get $mBlock)))
                    (local.set $m3 (v128.load (local.get $k)))
                    (local.set $k (i32.add (local.get $k) (local.get $mBlock)))
                    (local.set $m4 (v128.load (local.get $k)))
                    (local.set $k (i32.add (local.get $k) (local.get $mBlock)))
                    (local.set $m5 (v128.load (local.get $k)))
                    (local.set $bias (v128.load (i32.add (local.get $b) (local.get $c))))
                    ;; Aᵀ rows: (1, 1, 1, 1, 1, 0), (0, 1, −1, 2, −2, 0), (0, 1, 1, 4, 4, 0), (0, 1, −1, 8, −8, 1).
                    (local.set $s12 (f32x4.add (local.get $m1) (local.get $m2)))
                    (local.set $d12 (f32x4.sub (local.get $m1) (local.get $m2)))
                    (local.set $s34 (f32x4.add (local.get $m3) (local.get $m4)))
                    (local.set $d34 (f32x4.sub (local.get $m3) (local.get $m4)))
                    (local.set $k (i32.add (local.get $yp) (local.get $c)))
                    (local.set $s (f32x4.add (f32x4.add (local.get $m0) (local.get $s12)) (local.get $s34)))
                    (v128.store (local.get $k) (f32x4.pmax (f32x4.add (local.get $s) (local.get $bias)) (local.get $fout)))
                    (local.set $k (i32.add (local.get $k) (local.get $yd)))
                    (local.set $s (f32x4.add (local.get $d12) (f32x4.mul (local.get $d34) (v128.const f32x4 2 2 2 2))))
                    (v128.store (local.get $k) (f32x4.pmax (f32x4.add (local.get $s) (local.get $bias)) (local.get $fout)))
                    (local.set $k (i32.add (local.get $k) (local.get $yd)))
                    (local.set $s (f32x4.add (local.get $s12) (f32x4.mul (local.get $s34) (v128.const f32x4 4 4 4 4))))
                    (v128.store (local.get $k) (f32x4.pmax (f32x4.add (local.get $s) (local.get $bias)) (local.get $fout)))
                    (local.set $k (i32.add (local.get $k) (local.get $yd)))
                    (local.set $s (f32x4.add (f32x4.add (local.get $d12) (f32x4.mul (local.get $d34) (v128.const f32x4 8 8 8 8))) (local.get $m5)))
                    (v128.store (local.get $k) (f32x4.pmax (f32x4.add (local.get $s) (local.get $bias)) (local.get $fout)))
                    (local.set $c (i32.add (local.get $c) (i32.const 16)))
                    (br $outChannel)))
                (local.set $yp (i32.add (local.get $yp) (local.get $ys)))
                (local.set $mp (i32.add (local.get $mp) (local.get $mStride)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $outTile)))
            (local.set $gi (i32.add (local.get $gi) (i32.const 1)))
            (br $outGroup)))
        (local.set $g0 (i32.add (local.get $g0) (local.get $n)))
        (br $chunk))))

  ;; One residual block of the encoder, y = x + conv1(relu(conv3(relu(x)))), its 3-tap conv3 by
  ;; `winograd` and its 1x1 conv1 by `conv`, `per` groups of 4d rows at a time through `h` (room
  ;; for per·4d rows of nState channels, padded to whole panels), so the hidden rows are read back
  ;; from the cache. `groups` whole groups; y must not overlap x (see `resblock`). `v`, `zero`,
  ;; `b3`, `per` and `scratch` as for `winograd`, w1/b1 as for `conv`; x and y point at row 0.
  (func (export "wresblock")
    (param $v i32) (param $zero i32) (param $b3 i32) (param $w1 i32) (param $b1 i32) (param $x i32) (param $xs i32)
    (param $d i32) (param $nIn i32) (param $nState i32) (param $y i32) (param $groups i32) (param $per i32)
    (param $scratch i32) (param $h i32)
    (local $g0 i32) (local $n i32) (local $hs i32) (local $at i32) (local $rows i32)
    (local.set $hs (i32.shl (i32.shr_u (i32.add (local.get $nState) (i32.const 7)) (i32.const 3)) (i32.const 5)))
    (local.set $g0 (i32.const 0))
    (block $chunksDone
      (loop $chunk
        (br_if $chunksDone (i32.ge_u (local.get $g0) (local.get $groups)))
        (local.set $n (i32.sub (local.get $groups) (local.get $g0)))
        (if (i32.gt_u (local.get $n) (local.get $per)) (then (local.set $n (local.get $per))))
        (local.set $at (i32.mul (i32.mul (local.get $g0) (i32.shl (local.get $d) (i32.const 2))) (local.get $xs)))
        (local.set $rows (i32.mul (local.get $n) (i32.shl (local.get $d) (i32.const 2))))
        (call $winograd (local.get $v) (local.get $zero) (local.get $b3)
          (i32.sub (i32.add (local.get $x) (local.get $at)) (i32.mul (local.get $d) (local.get $xs))) (local.get $xs)
          (local.get $d) (local.get $nIn) (local.get $h) (local.get $hs) (i32.shr_u (local.get $hs) (i32.const 5))
          (local.get $n) (local.get $per) (local.get $scratch) (f32.const 0) (f32.const 0))
        (memory.copy (i32.add (local.get $y) (local.get $at)) (i32.add (local.get $x) (local.get $at))
          (i32.mul (local.get $rows) (local.get $xs)))
        (call $conv (local.get $w1) (local.get $b1) (local.get $h) (local.get $hs) (i32.const 0) (i32.const 1) (local.get $nState)
          (i32.add (local.get $y) (local.get $at)) (local.get $xs) (i32.shr_u (local.get $xs) (i32.const 5)) (local.get $rows)
          (f32.const -inf) (i32.const 1))
        (local.set $g0 (i32.add (local.get $g0) (local.get $n)))
        (br $chunk))))

  ;; One residual block, y = x + conv1(relu(conv3(relu(x)))) (3-tap conv3 of dilation d, nIn →
  ;; nState channels; 1x1 conv1 back to nIn), 32 rows at a time: the three input rows each output
  ;; row reads are copied with their ReLU into `scratch` (three blocks of 32 rows), so that conv3's
  ;; channel loop has no ReLU to apply, and its output goes to `scratch` after them (32 rows of
  ;; nState channels, padded to whole panels), so the hidden activation stays in the L1 cache
  ;; between the two convolutions instead of going to memory and back. The rows of y are the
  ;; `conv` kernel's, computed the same way, so the result equals the two convolutions run one
  ;; after the other. y must not overlap x: conv3 reads x up to d rows behind the rows written.
  ;; `x` and `y` point at row 0 (x keeps d zero rows either side), both `xs` bytes a row; w3/b3 and
  ;; w1/b1 are packed as for `conv`.
  (func (export "resblock")
    (param $w3 i32) (param $b3 i32) (param $w1 i32) (param $b1 i32) (param $x i32) (param $xs i32) (param $d i32)
    (param $nIn i32) (param $nState i32) (param $y i32) (param $scratch i32) (param $rows i32)
    (local $t0 i32) (local $n i32) (local $hs i32) (local $at i32) (local $h i32) (local $tapBlock i32)
    (local $src i32) (local $dst i32) (local $end i32) (local $tap i32)
    (local.set $hs (i32.shl (i32.shr_u (i32.add (local.get $nState) (i32.const 7)) (i32.const 3)) (i32.const 5)))
    (local.set $tapBlock (i32.shl (local.get $xs) (i32.const 5)))
    (local.set $h (i32.add (local.get $scratch) (i32.mul (local.get $tapBlock) (i32.const 3))))
    (local.set $t0 (i32.const 0))
    (block $tilesDone
      (loop $tile
        (br_if $tilesDone (i32.ge_u (local.get $t0) (local.get $rows)))
        (local.set $n (i32.sub (local.get $rows) (local.get $t0)))
        (if (i32.gt_u (local.get $n) (i32.const 32)) (then (local.set $n (i32.const 32))))
        (local.set $at (i32.mul (local.get $t0) (local.get $xs)))
        ;; Tap k's rows t0 + (k − 1)·d … into block k of the scratch, with the ReLU.
        (local.set $tap (i32.const 0))
        (block $tapsCopied
          (loop $tapCopy
            (br_if $tapsCopied (i32.ge_u (local.get $tap) (i32.const 3)))
            (local.set $src (i32.add (i32.add (local.get $x) (local.get $at))
                                     (i32.mul (i32.mul (i32.sub (local.get $tap) (i32.const 1)) (local.get $d)) (local.get $xs))))
            (local.set $dst (i32.add (local.get $scratch) (i32.mul (local.get $tap) (local.get $tapBlock))))
            (local.set $end (i32.add (local.get $dst) (i32.mul (local.get $n) (local.get $xs))))
            (block $copied
              (loop $copy
                (br_if $copied (i32.ge_u (local.get $dst) (local.get $end)))
                (v128.store (local.get $dst) (f32x4.pmax (v128.load (local.get $src)) (v128.const f32x4 0 0 0 0)))
                (local.set $src (i32.add (local.get $src) (i32.const 16)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
                (br $copy)))
            (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
            (br $tapCopy)))
        (call $conv (local.get $w3) (local.get $b3) (local.get $scratch) (local.get $xs) (local.get $tapBlock) (i32.const 3)
          (local.get $nIn) (local.get $h) (local.get $hs) (i32.shr_u (local.get $hs) (i32.const 5)) (local.get $n)
          (f32.const 0) (i32.const 0))
        (memory.copy (i32.add (local.get $y) (local.get $at)) (i32.add (local.get $x) (local.get $at))
          (i32.mul (local.get $n) (local.get $xs)))
        (call $conv (local.get $w1) (local.get $b1) (local.get $h) (local.get $hs) (i32.const 0) (i32.const 1) (local.get $nState)
          (i32.add (local.get $y) (local.get $at)) (local.get $xs) (i32.shr_u (local.get $xs) (i32.const 5)) (local.get $n)
          (f32.const -inf) (i32.const 1))
        (local.set $t0 (i32.add (local.get $t0) (local.get $n)))
        (br $tile))))

  ;; out[r] = the first index of the largest of the n floats of row r (rows `stride` bytes apart),
  ;; as tf.argMax. n is a multiple of 4: lane j keeps the best of the columns ≡ j (mod 4), replaced
  ;; only by a strictly larger value, and the lanes are merged preferring the smaller index on ties.
  (func (export "argmax") (param $x i32) (param $stride i32) (param $n i32) (param $rows i32) (param $out i32)
    (local $r i32) (local $p i32) (local $end i32) (local $best v128) (local $idx v128) (local $cur v128)
    (local $v v128) (local $m v128) (local $bv f32) (local $bi i32) (local $lv f32) (local $li i32) (local $j i32)
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $p (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
        (local.set $best (v128.load (local.get $p)))
        (local.set $idx (v128.const i32x4 0 1 2 3))
        (local.set $cur (v128.const i32x4 4 5 6 7))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (block $colsDone
          (loop $col
            (br_if $colsDone (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $v (v128.load (local.get $p)))
            (local.set $m (f32x4.gt (local.get $v) (local.get $best)))
            (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
            (local.set $idx (v128.bitselect (local.get $cur) (local.get $idx) (local.get $m)))
            (local.set $cur (i32x4.add (local.get $cur) (v128.const i32x4 4 4 4 4)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $col)))
        (local.set $bv (f32x4.extract_lane 0 (local.get $best)))
        (local.set $bi (i32x4.extract_lane 0 (local.get $idx)))
        (local.set $j (i32.const 1))
        (block $lanesDone
          (loop $lane
            (br_if $lanesDone (i32.ge_u (local.get $j) (i32.const 4)))
            (if (i32.eq (local.get $j) (i32.const 1))
              (then (local.set $lv (f32x4.extract_lane 1 (local.get $best)))
                    (local.set $li (i32x4.extract_lane 1 (local.get $idx)))))
            (if (i32.eq (local.get $j) (i32.const 2))
              (then (local.set $lv (f32x4.extract_lane 2 (local.get $best)))
                    (local.set $li (i32x4.extract_lane 2 (local.get $idx)))))
            (if (i32.eq (local.get $j) (i32.const 3))
              (then (local.set $lv (f32x4.extract_lane 3 (local.get $best)))
                    (local.set $li (i32x4.extract_lane 3 (local.get $idx)))))
            (if (i32.or (f32.gt (local.get $lv) (local.get $bv))
                        (i32.and (f32.eq (local.get $lv) (local.get $bv)) (i32.lt_s (local.get $li) (local.get $bi))))
              (then (local.set $bv (local.get $lv)) (local.set $bi (local.get $li))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lane)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))) (local.get $bi))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))
)
