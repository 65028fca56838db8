;; The fast sampling path's arithmetic kernels (plain WebAssembly SIMD128, no relaxed-SIMD: that
;; needs a Node flag). Compiled to kernels.wasm by `npm run build:wasm`; a test checks that the
;; committed binary is this source compiled. All pointers and strides are byte offsets into the
;; memory the module imports; every vector is float32. The memory is shared, so that worker
;; threads running their own instances of these kernels over it can split one product by panels.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; y[i] = x[i] · W + b for the m rows x[i] (row stride xs), written at y + i·ys.
  ;;
  ;; W [nIn, nOut] is packed in panels of 16 output columns: panel p holds columns 16p..16p+15 of
  ;; every input row k, 64 bytes per row, so one panel is nIn·64 contiguous bytes read front to
  ;; back. A panel's last columns past nOut are zero, as is `b` there, so the padded outputs are 0.
  ;; Rows go through a panel two at a time: each weight load then serves two rows (the step is
  ;; bound by streaming the weights, so batching samples is nearly free), with 8 accumulators.
  ;; A lone row unrolls k by two instead, to keep 8 independent accumulators in flight.
  (func (export "matmul")
    (param $w i32) (param $b i32) (param $x i32) (param $xs i32) (param $y i32) (param $ys i32)
    (param $nIn i32) (param $panels i32) (param $m i32)
    (local $p i32) (local $i i32) (local $wp i32) (local $wk i32) (local $wend i32) (local $wend2 i32)
    (local $xa i32) (local $xb i32) (local $yo i32) (local $bp i32)
    (local $s0 v128) (local $s1 v128) (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $p (i32.const 0))
    (block $panelsDone
      (loop $panel
        (br_if $panelsDone (i32.ge_u (local.get $p) (local.get $panels)))
        (local.set $wp (i32.add (local.get $w) (i32.mul (local.get $p) (i32.shl (local.get $nIn) (i32.const 6)))))
        (local.set $wend (i32.add (local.get $wp) (i32.shl (local.get $nIn) (i32.const 6))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $p) (i32.const 6))))
        (local.set $i (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $xa (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $xs))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $a4 (v128.const i32x4 0 0 0 0))
            (local.set $a5 (v128.const i32x4 0 0 0 0))
            (local.set $a6 (v128.const i32x4 0 0 0 0))
            (local.set $a7 (v128.const i32x4 0 0 0 0))
            (local.set $wk (local.get $wp))
            (local.set $yo (i32.add (i32.add (local.get $y) (i32.mul (local.get $i) (local.get $ys)))
                                    (i32.shl (local.get $p) (i32.const 6))))
            (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m))
              (then
                ;; Two rows: a0..a3 for row i, a4..a7 for row i + 1.
                (local.set $xb (i32.add (local.get $xa) (local.get $xs)))
                (block $kDone
                  (loop $k
                    (br_if $kDone (i32.ge_u (local.get $wk) (local.get $wend)))
                    (local.set $s0 (f32x4.splat (f32.load (local.get $xa))))
                    (local.set $s1 (f32x4.splat (f32.load (local.get $xb))))
                    (local.set $w0 (v128.load (local.get $wk)))
                    (local.set $w1 (v128.load offset=16 (local.get $wk)))
                    (local.set $w2 (v128.load offset=32 (local.get $wk)))
                    (local.set $w3 (v128.load offset=48 (local.get $wk)))
                    (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w0) (local.get $s0))))
                    (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w1) (local.get $s0))))
                    (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w2) (local.get $s0))))
                    (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w3) (local.get $s0))))
                    (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $w0) (local.get $s1))))
                    (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $w1) (local.get $s1))))
                    (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $w2) (local.get $s1))))
                    (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $w3) (local.get $s1))))
                    (local.set $xa (i32.add (local.get $xa) (i32.const 4)))
                    (local.set $xb (i32.add (local.get $xb) (i32.const 4)))
                    (local.set $wk (i32.add (local.get $wk) (i32.const 64)))
                    (br $k)))
                (local.set $xb (i32.add (local.get $yo) (local.get $ys)))
                (v128.store (local.get $xb) (f32x4.add (local.get $a4) (v128.load (local.get $bp))))
                (v128.store offset=16 (local.get $xb) (f32x4.add (local.get $a5) (v128.load offset=16 (local.get $bp))))
                (v128.store offset=32 (local.get $xb) (f32x4.add (local.get $a6) (v128.load offset=32 (local.get $bp))))
                (v128.store offset=48 (local.get $xb) (f32x4.add (local.get $a7) (v128.load offset=48 (local.get $bp))))
                (local.set $i (i32.add (local.get $i) (i32.const 2))))
              (else
                ;; One row, k unrolled by two: a0..a3 take even k, a4..a7 odd k.
                (local.set $wend2 (i32.sub (local.get $wend) (i32.const 64)))
                (block $kDone
                  (loop $k
                    (br_if $kDone (i32.ge_u (local.get $wk) (local.get $wend2)))
                    (local.set $s0 (f32x4.splat (f32.load (local.get $xa))))
                    (local.set $s1 (f32x4.splat (f32.load offset=4 (local.get $xa))))
                    (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $wk)) (local.get $s0))))
                    (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=16 (local.get $wk)) (local.get $s0))))
                    (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=32 (local.get $wk)) (local.get $s0))))
                    (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=48 (local.get $wk)) (local.get $s0))))
                    (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (v128.load offset=64 (local.get $wk)) (local.get $s1))))
                    (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (v128.load offset=80 (local.get $wk)) (local.get $s1))))
                    (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (v128.load offset=96 (local.get $wk)) (local.get $s1))))
                    (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (v128.load offset=112 (local.get $wk)) (local.get $s1))))
                    (local.set $xa (i32.add (local.get $xa) (i32.const 8)))
                    (local.set $wk (i32.add (local.get $wk) (i32.const 128)))
                    (br $k)))
                ;; An odd nIn leaves one row of the panel.
                (if (i32.lt_u (local.get $wk) (local.get $wend))
                  (then
                    (local.set $s0 (f32x4.splat (f32.load (local.get $xa))))
                    (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $wk)) (local.get $s0))))
                    (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=16 (local.get $wk)) (local.get $s0))))
                    (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=32 (local.get $wk)) (local.get $s0))))
                    (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=48 (local.get $wk)) (local.get $s0))))))
                (local.set $a0 (f32x4.add (local.get $a0) (local.get $a4)))
                (local.set $a1 (f32x4.add (local.get $a1) (local.get $a5)))
                (local.set $a2 (f32x4.add (local.get $a2) (local.get $a6)))
                (local.set $a3 (f32x4.add (local.get $a3) (local.get $a7)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))))
            ;; The first row of the step (both branches leave its sums in a0..a3); the bias is
            ;; added after the product, as the tfjs path's matMul then add.
            (v128.store (local.get $yo) (f32x4.add (local.get $a0) (v128.load (local.get $bp))))
            (v128.store offset=16 (local.get $yo) (f32x4.add (local.get $a1) (v128.load offset=16 (local.get $bp))))
            (v128.store offset=32 (local.get $yo) (f32x4.add (local.get $a2) (v128.load offset=32 (local.get $bp))))
            (v128.store offset=48 (local.get $yo) (f32x4.add (local.get $a3) (v128.load offset=48 (local.get $bp))))
            (br $rows)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $panel))))
;; out[j] = (q · k_j) · scale for `count` keys k_j = k + j·stride (d floats each, d a multiple of
  ;; 4): the attention logits of one query and one head. The stride lets one call walk a run of
  ;; cached positions (block, previous block, dense, prime) or every block_ctx-th one (transpose
  ;; block) in place, without gathering them.
  (func (export "scores")
    (param $q i32) (param $k i32) (param $stride i32) (param $count i32) (param $out i32) (param $d i32) (param $scale f32)
    (local $j i32) (local $o i32) (local $end i32) (local $acc v128)
    (local.set $end (i32.shl (local.get $d) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $key
        (br_if $done (i32.ge_u (local.get $j) (local.get $count)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $o (i32.const 0))
        (block $dDone
          (loop $dim
            (br_if $dDone (i32.ge_u (local.get $o) (local.get $end)))
            (local.set $acc (f32x4.add (local.get $acc)
              (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $o))) (v128.load (i32.add (local.get $k) (local.get $o))))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $dim)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
          (f32.mul (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                            (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc))))
                   (local.get $scale)))
        (local.set $k (i32.add (local.get $k) (local.get $stride)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $key))))

  ;; out += Σ_j p[j] · v_j for `count` values v_j = v + j·stride (d floats each, d a multiple of 4):
  ;; the attention output of one query and one head, from its probabilities `p`.
  (func (export "weighted")
    (param $p i32) (param $v i32) (param $stride i32) (param $count i32) (param $out i32) (param $d i32)
    (local $j i32) (local $o i32) (local $end i32) (local $s v128) (local $at i32)
    (local.set $end (i32.shl (local.get $d) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $value
        (br_if $done (i32.ge_u (local.get $j) (local.get $count)))
        (local.set $s (f32x4.splat (f32.load (i32.add (local.get $p) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $o (i32.const 0))
        (block $dDone
          (loop $dim
            (br_if $dDone (i32.ge_u (local.get $o) (local.get $end)))
            (local.set $at (i32.add (local.get $out) (local.get $o)))
            (v128.store (local.get $at) (f32x4.add (v128.load (local.get $at))
              (f32x4.mul (local.get $s) (v128.load (i32.add (local.get $v) (local.get $o))))))
            (local.set $o (i32.add (local.get $o) (i32.const 16)))
            (br $dim)))
        (local.set $v (i32.add (local.get $v) (local.get $stride)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $value))))
;; y = x + a over n floats (n a multiple of 4): a residual sum over whole padded rows.
  (func (export "add") (param $x i32) (param $a i32) (param $y i32) (param $n i32)
    (local $o i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (f32x4.add (v128.load (i32.add (local.get $x) (local.get $o))) (v128.load (i32.add (local.get $a) (local.get $o)))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $l))))

  ;; x += (a + m) · s over n floats (n a multiple of 4): the residual of a res_scale block.
  (func (export "addScaled") (param $x i32) (param $a i32) (param $m i32) (param $n i32) (param $s f32)
    (local $o i32) (local $end i32) (local $sv v128) (local $at i32)
    (local.set $sv (f32x4.splat (local.get $s)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $at (i32.add (local.get $x) (local.get $o)))
        (v128.store (local.get $at) (f32x4.add (v128.load (local.get $at))
          (f32x4.mul (f32x4.add (v128.load (i32.add (local.get $a) (local.get $o))) (v128.load (i32.add (local.get $m) (local.get $o))))
                     (local.get $sv))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $l))))

;; LayerNorm of `rows` rows of `width` floats, row stride `stride` bytes, from x into y:
  ;; (x − mean) / sqrt(biased variance + eps) · g + b, all in float64 with one rounding per output
  ;; (the variance of the centred values, not E[x²] − mean², which cancels). Float32 sums and
  ;; roundings here took the 1b-like fixture's logits from 1.5e-4 to 7.3e-4 of the reference's:
  ;; deep sharp-attention priors amplify every rounding along the sequence. Scalar, since a row
  ;; costs little beside the products.
  (func (export "layernorm") (param $x i32) (param $y i32) (param $g i32) (param $b i32)
    (param $width i32) (param $rows i32) (param $stride i32) (param $eps f32)
    (local $r i32) (local $o i32) (local $end i32) (local $inv f64)
    (local $sum f64) (local $m f64) (local $d f64) (local $xr i32) (local $yr i32)
    (local.set $end (i32.shl (local.get $width) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $xr (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $yr (i32.add (local.get $y) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $sum (f64.const 0))
        (local.set $o (i32.const 0))
        (block $d1
          (loop $l1
            (br_if $d1 (i32.ge_u (local.get $o) (local.get $end)))
            (local.set $sum (f64.add (local.get $sum) (f64.promote_f32 (f32.load (i32.add (local.get $xr) (local.get $o))))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $l1)))
        (local.set $m (f64.div (local.get $sum) (f64.convert_i32_u (local.get $width))))
        (local.set $sum (f64.const 0))
        (local.set $o (i32.const 0))
        (block $d2
          (loop $l2
            (br_if $d2 (i32.ge_u (local.get $o) (local.get $end)))
            (local.set $d (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $xr) (local.get $o)))) (local.get $m)))
            (local.set $sum (f64.add (local.get $sum) (f64.mul (local.get $d) (local.get $d))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $l2)))
        (local.set $inv (f64.div (f64.const 1)
          (f64.sqrt (f64.add (f64.div (local.get $sum) (f64.convert_i32_u (local.get $width))) (f64.promote_f32 (local.get $eps))))))
        (local.set $o (i32.const 0))
        (block $d3
          (loop $l3
            (br_if $d3 (i32.ge_u (local.get $o) (local.get $end)))
            (f32.store (i32.add (local.get $yr) (local.get $o))
              (f32.demote_f64 (f64.add
                (f64.mul (f64.mul (f64.sub (f64.promote_f32 (f32.load (i32.add (local.get $xr) (local.get $o)))) (local.get $m)) (local.get $inv))
                         (f64.promote_f32 (f32.load (i32.add (local.get $g) (local.get $o)))))
                (f64.promote_f32 (f32.load (i32.add (local.get $b) (local.get $o)))))))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $l3)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row))))

  ;; quick_gelu in place over n floats (n a multiple of 4): x · sigmoid(1.702 x) = x / (1 + e^(−1.702 x)).
  ;; e^t: t clamped to [−87, 87] (beyond, the result is x or 0 to float32 precision anyway),
  ;; t = k·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial (relative error < 2e-7
  ;; there, at float32 rounding), and 2^k built in the exponent bits.
  (func (export "quickGelu") (param $x i32) (param $n i32)
    (local $o i32) (local $end i32) (local $v v128) (local $t v128) (local $k v128) (local $r v128) (local $p v128) (local $at i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $o (i32.const 0))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $o) (local.get $end)))
        (local.set $at (i32.add (local.get $x) (local.get $o)))
        (local.set $v (v128.load (local.get $at)))
        (local.set $t (f32x4.mul (local.get $v) (v128.const f32x4 -1.702 -1.702 -1.702 -1.702)))
        (local.set $t (f32x4.min (f32x4.max (local.get $t) (v128.const f32x4 -87 -87 -87 -87)) (v128.const f32x4 87 87 87 87)))
        ;; k = round(t / ln2)
        (local.set $k (f32x4.nearest (f32x4.mul (local.get $t) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))))
        ;; r = t − k·ln2, with ln2 split in two for accuracy
        (local.set $r (f32x4.sub (local.get $t) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
        (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
        ;; e^r = 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))
        (local.set $p (v128.const f32x4 1.38888889e-3 1.38888889e-3 1.38888889e-3 1.38888889e-3))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.33333333e-3 8.33333333e-3 8.33333333e-3 8.33333333e-3)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.16666667e-2 4.16666667e-2 4.16666667e-2 4.16666667e-2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.166666667 0.166666667 0.166666667 0.166666667)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
        ;; · 2^k: k + 127 in the exponent field
        (local.set $p (f32x4.mul (local.get $p)
          (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
        (v128.store (local.get $at)
          (f32x4.div (local.get $v) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $p))))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $l))))
)
