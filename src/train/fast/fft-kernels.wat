;; FFT kernels of the spectral losses (plain WebAssembly SIMD128): four frames at once, one per
;; f32x4 lane. Compiled to fft-kernels.wasm by `npm run build:wasm`; a test checks that the
;; committed binary is this source compiled. Pointers are byte offsets into the imported memory.
;;
;; A "vector signal" of m points holds point j of the four frames at p + 32·j: the four real
;; parts (one v128), then the four imaginary parts. Twiddle tables hold (cos, sin) float32 pairs.
(module
  (import "env" "memory" (memory 1 65536))

  ;; In-place radix-2 transform of the bit-reversed vector signal at p (m points, a power of two):
  ;; Z[k] = Σ_j z[j] · (c_jk + i·s_jk), with (c, s) at tw + 8·t for the angle 2πt/m (t < m/2),
  ;; the sine's sign chosen by the table.
  (func (export "fft4") (param $p i32) (param $m i32) (param $tw i32)
    (local $size i32) (local $span i32) (local $step i32) (local $start i32) (local $j i32)
    (local $a i32) (local $b i32) (local $t i32)
    (local $wr v128) (local $wi v128) (local $br v128) (local $bi v128) (local $tr v128) (local $ti v128)
    (local $ar v128) (local $ai v128)
    (local.set $size (i32.const 2))
    (block $stagesDone
      (loop $stage
        (br_if $stagesDone (i32.gt_u (local.get $size) (local.get $m)))
        (local.set $span (i32.shr_u (local.get $size) (i32.const 1)))
        (local.set $step (i32.div_u (local.get $m) (local.get $size)))
        (local.set $j (i32.const 0))
        (block $jDone
          (loop $jLoop
            (br_if $jDone (i32.ge_u (local.get $j) (local.get $span)))
            (local.set $t (i32.add (local.get $tw) (i32.shl (i32.mul (local.get $j) (local.get $step)) (i32.const 3))))
            (local.set $wr (f32x4.splat (f32.load (local.get $t))))
            (local.set $wi (f32x4.splat (f32.load offset=4 (local.get $t))))
            (local.set $start (i32.const 0))
            (block $blocksDone
              (loop $block
                (br_if $blocksDone (i32.ge_u (local.get $start) (local.get $m)))
                (local.set $a (i32.add (local.get $p) (i32.shl (i32.add (local.get $start) (local.get $j)) (i32.const 5))))
                (local.set $b (i32.add (local.get $a) (i32.shl (local.get $span) (i32.const 5))))
                (local.set $br (v128.load (local.get $b)))
                (local.set $bi (v128.load offset=16 (local.get $b)))
                (local.set $tr (f32x4.sub (f32x4.mul (local.get $wr) (local.get $br)) (f32x4.mul (local.get $wi) (local.get $bi))))
                (local.set $ti (f32x4.add (f32x4.mul (local.get $wr) (local.get $bi)) (f32x4.mul (local.get $wi) (local.get $br))))
                (local.set $ar (v128.load (local.get $a)))
                (local.set $ai (v128.load offset=16 (local.get $a)))
                (v128.store (local.get $b) (f32x4.sub (local.get $ar) (local.get $tr)))
                (v128.store offset=16 (local.get $b) (f32x4.sub (local.get $ai) (local.get $ti)))
                (v128.store (local.get $a) (f32x4.add (local.get $ar) (local.get $tr)))
                (v128.store offset=16 (local.get $a) (f32x4.add (local.get $ai) (local.get $ti)))
                (local.set $start (i32.add (local.get $start) (local.get $size)))
                (br $block)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jLoop)))
        (local.set $size (i32.shl (local.get $size) (i32.const 1)))
        (br $stage)))
  )

  ;; The real transform X[0 … m] of four real frames of 2m samples from the transform Z at z of
  ;; their even/odd packing (z[j] = x[2j] + i·x[2j+1]), written as a vector signal of m + 1 points
  ;; at x: X[k] = E + e^{−iπk/m}·O with E = (Z[k] + conj Z[m−k]) / 2, O = (Z[k] − conj Z[m−k]) / 2i.
  ;; (cos, sin)(πk/m) at tw + 8k, k ≤ m.
  (func (export "split4") (param $z i32) (param $x i32) (param $m i32) (param $tw i32)
    (local $k i32) (local $a i32) (local $b i32) (local $t i32) (local $o i32)
    (local $c v128) (local $s v128) (local $half v128)
    (local $zar v128) (local $zai v128) (local $zbr v128) (local $zbi v128)
    (local $er v128) (local $ei v128) (local $or v128) (local $oi v128)
    (local.set $half (f32x4.splat (f32.const 0.5)))
    (local.set $k (i32.const 0))
    (block $done
      (loop $kLoop
        (br_if $done (i32.gt_u (local.get $k) (local.get $m)))
        ;; a = k mod m, b = (m − k) mod m
        (local.set $a (select (i32.const 0) (local.get $k) (i32.eq (local.get $k) (local.get $m))))
        (local.set $b (select (i32.const 0) (i32.sub (local.get $m) (local.get $k)) (i32.eqz (local.get $k))))
        (local.set $zar (v128.load (i32.add (local.get $z) (i32.shl (local.get $a) (i32.const 5)))))
        (local.set $zai (v128.load offset=16 (i32.add (local.get $z) (i32.shl (local.get $a) (i32.const 5)))))
        (local.set $zbr (v128.load (i32.add (local.get $z) (i32.shl (local.get $b) (i32.const 5)))))
        (local.set $zbi (v128.load offset=16 (i32.add (local.get $z) (i32.shl (local.get $b) (i32.const 5)))))
        (local.set $er (f32x4.mul (local.get $half) (f32x4.add (local.get $zar) (local.get $zbr))))
        (local.set $ei (f32x4.mul (local.get $half) (f32x4.sub (local.get $zai) (local.get $zbi))))
        (local.set $or (f32x4.mul (local.get $half) (f32x4.add (local.get $zai) (local.get $zbi))))
        (local.set $oi (f32x4.mul (local.get $half) (f32x4.sub (local.get $zbr) (local.get $zar))))
        (local.set $t (i32.add (local.get $tw) (i32.shl (local.get $k) (i32.const 3))))
        (local.set $c (f32x4.splat (f32.load (local.get $t))))
        (local.set $s (f32x4.splat (f32.load offset=4 (local.get $t))))
        (local.set $o (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 5))))
        (v128.store (local.get $o)
          (f32x4.add (local.get $er) (f32x4.add (f32x4.mul (local.get $c) (local.get $or)) (f32x4.mul (local.get $s) (local.get $oi)))))
        (v128.store offset=16 (local.get $o)
          (f32x4.add (local.get $ei) (f32x4.sub (f32x4.mul (local.get $c) (local.get $oi)) (f32x4.mul (local.get $s) (local.get $or)))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kLoop)))
  )

  ;; The inverse of `split4` up to the packing: from the half spectrum X[0 … m] at x (imaginary
  ;; parts of X[0] and X[m] taken as 0), the vector signal Z = A + iB at z, in bit-reversed order
  ;; (the index of point k at rev + 4k), with A = X[k] + conj X[m−k] and
  ;; B = (X[k] − conj X[m−k]) e^{+iπk/m}: its unnormalised inverse transform packs the even and
  ;; odd samples of Σ_k X[k] e^{+2πikn/2m}.
  (func (export "merge4") (param $x i32) (param $z i32) (param $m i32) (param $tw i32) (param $rev i32)
    (local $k i32) (local $b i32) (local $t i32) (local $o i32) (local $pb i32)
    (local $c v128) (local $s v128)
    (local $xr v128) (local $xi v128) (local $yr v128) (local $yi v128)
    (local $ar v128) (local $ai v128) (local $dr v128) (local $di v128) (local $br v128) (local $bi v128)
    (local.set $k (i32.const 0))
    (block $done
      (loop $kLoop
        (br_if $done (i32.ge_u (local.get $k) (local.get $m)))
        (local.set $b (i32.sub (local.get $m) (local.get $k)))
        (local.set $xr (v128.load (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 5)))))
        (local.set $xi (v128.load offset=16 (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 5)))))
        (if (i32.eqz (local.get $k)) (then (local.set $xi (v128.const i32x4 0 0 0 0))))
        (local.set $pb (i32.add (local.get $x) (i32.shl (local.get $b) (i32.const 5))))
        (local.set $yr (v128.load (local.get $pb)))
        (local.set $yi (v128.load offset=16 (local.get $pb)))
        (if (i32.eq (local.get $b) (local.get $m)) (then (local.set $yi (v128.const i32x4 0 0 0 0))))
        (local.set $ar (f32x4.add (local.get $xr) (local.get $yr)))
        (local.set $ai (f32x4.sub (local.get $xi) (local.get $yi)))
        (local.set $dr (f32x4.sub (local.get $xr) (local.get $yr)))
        (local.set $di (f32x4.add (local.get $xi) (local.get $yi)))
        (local.set $t (i32.add (local.get $tw) (i32.shl (local.get $k) (i32.const 3))))
        (local.set $c (f32x4.splat (f32.load (local.get $t))))
        (local.set $s (f32x4.splat (f32.load offset=4 (local.get $t))))
        (local.set $br (f32x4.sub (f32x4.mul (local.get $dr) (local.get $c)) (f32x4.mul (local.get $di) (local.get $s))))
        (local.set $bi (f32x4.add (f32x4.mul (local.get $dr) (local.get $s)) (f32x4.mul (local.get $di) (local.get $c))))
        (local.set $o (i32.add (local.get $z)
          (i32.shl (i32.load (i32.add (local.get $rev) (i32.shl (local.get $k) (i32.const 2)))) (i32.const 5))))
        (v128.store (local.get $o) (f32x4.sub (local.get $ar) (local.get $bi)))
        (v128.store offset=16 (local.get $o) (f32x4.add (local.get $ai) (local.get $br)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $kLoop)))
  )

  ;; Four frames of 2m samples, one after another at f, as the vector signal at z in bit-reversed
  ;; order (point j at z + 32·rev[j], rev[j] at rev + 4j): the packed points x[2j] + i·x[2j+1] of
  ;; frame l in lane l. Each point takes each frame's (even, odd) pair by one 64-bit load.
  (func (export "load4") (param $f i32) (param $z i32) (param $m i32) (param $rev i32)
    (local $j i32) (local $n8 i32) (local $src i32) (local $o i32) (local $lo v128) (local $hi v128)
    (local.set $n8 (i32.shl (local.get $m) (i32.const 3)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $jLoop
        (br_if $done (i32.ge_u (local.get $j) (local.get $m)))
        (local.set $src (i32.add (local.get $f) (i32.shl (local.get $j) (i32.const 3))))
        ;; lo = (re0, im0, re1, im1), hi = (re2, im2, re3, im3)
        (local.set $lo (v128.load64_zero (local.get $src)))
        (local.set $lo (v128.load64_lane 1 (i32.add (local.get $src) (local.get $n8)) (local.get $lo)))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $n8) (i32.const 1))))
        (local.set $hi (v128.load64_zero (local.get $src)))
        (local.set $hi (v128.load64_lane 1 (i32.add (local.get $src) (local.get $n8)) (local.get $hi)))
        (local.set $o (i32.add (local.get $z)
          (i32.shl (i32.load (i32.add (local.get $rev) (i32.shl (local.get $j) (i32.const 2)))) (i32.const 5))))
        (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $lo) (local.get $hi)))
        (v128.store offset=16 (local.get $o) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $lo) (local.get $hi)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jLoop)))
  )

  ;; The inverse of `load4` without the bit reversal: the vector signal at z (m points in order)
  ;; as four frames of 2m samples, one after another at f.
  (func (export "store4") (param $z i32) (param $f i32) (param $m i32)
    (local $j i32) (local $n8 i32) (local $dst i32) (local $re v128) (local $im v128) (local $v v128)
    (local.set $n8 (i32.shl (local.get $m) (i32.const 3)))
    (local.set $j (i32.const 0))
    (block $done
      (loop $jLoop
        (br_if $done (i32.ge_u (local.get $j) (local.get $m)))
        (local.set $re (v128.load (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 5)))))
        (local.set $im (v128.load offset=16 (i32.add (local.get $z) (i32.shl (local.get $j) (i32.const 5)))))
        (local.set $dst (i32.add (local.get $f) (i32.shl (local.get $j) (i32.const 3))))
        ;; (re0, im0, re1, im1) to frames 0 and 1, then (re2, im2, re3, im3) to frames 2 and 3.
        (local.set $v (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $re) (local.get $im)))
        (v128.store64_lane 0 (local.get $dst) (local.get $v))
        (v128.store64_lane 1 (i32.add (local.get $dst) (local.get $n8)) (local.get $v))
        (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $n8) (i32.const 1))))
        (local.set $v (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $re) (local.get $im)))
        (v128.store64_lane 0 (local.get $dst) (local.get $v))
        (v128.store64_lane 1 (i32.add (local.get $dst) (local.get $n8)) (local.get $v))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jLoop)))
  )

  ;; The vector signal of `bins` points at x as four spectra in float64, one after another:
  ;; lane l's real parts at re + 8·(l·bins + k), its imaginary parts at im + 8·(l·bins + k).
  (func (export "spectra4") (param $x i32) (param $bins i32) (param $re i32) (param $im i32)
    (local $k i32) (local $lane i32) (local $p i32) (local $o i32)
    (local.set $lane (i32.const 0))
    (block $lanesDone
      (loop $lanes
        (br_if $lanesDone (i32.ge_u (local.get $lane) (i32.const 4)))
        (local.set $k (i32.const 0))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $lane) (i32.const 2))))
        (local.set $o (i32.shl (i32.mul (local.get $lane) (local.get $bins)) (i32.const 3)))
        (block $done
          (loop $kLoop
            (br_if $done (i32.ge_u (local.get $k) (local.get $bins)))
            (f64.store (i32.add (local.get $re) (local.get $o)) (f64.promote_f32 (f32.load (local.get $p))))
            (f64.store (i32.add (local.get $im) (local.get $o)) (f64.promote_f32 (f32.load offset=16 (local.get $p))))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kLoop)))
        (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
        (br $lanes)))
  )

  ;; The inverse of `spectra4`: four float64 spectra of `bins` points (layout as there) as the
  ;; float32 vector signal at x.
  (func (export "unspectra4") (param $re i32) (param $im i32) (param $bins i32) (param $x i32)
    (local $k i32) (local $lane i32) (local $p i32) (local $o i32)
    (local.set $lane (i32.const 0))
    (block $lanesDone
      (loop $lanes
        (br_if $lanesDone (i32.ge_u (local.get $lane) (i32.const 4)))
        (local.set $k (i32.const 0))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $lane) (i32.const 2))))
        (local.set $o (i32.shl (i32.mul (local.get $lane) (local.get $bins)) (i32.const 3)))
        (block $done
          (loop $kLoop
            (br_if $done (i32.ge_u (local.get $k) (local.get $bins)))
            (f32.store (local.get $p) (f32.demote_f64 (f64.load (i32.add (local.get $re) (local.get $o)))))
            (f32.store offset=16 (local.get $p) (f32.demote_f64 (f64.load (i32.add (local.get $im) (local.get $o)))))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (local.set $o (i32.add (local.get $o) (i32.const 8)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kLoop)))
        (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
        (br $lanes)))
  )
)
