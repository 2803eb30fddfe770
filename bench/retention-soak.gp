# gnuplot -e "csv='bench/retention-soak.csv'; png='bench/retention-soak.png'; title='...'" bench/retention-soak.gp
set terminal pngcairo size 900,500 font ",10"
set output png
set datafile separator ","
set key top left
set title title
set xlabel "jobs completed (thousands)"
set ylabel "Redis used memory (MB)"
set y2label "complete jobs kept"
set y2tics
set ytics nomirror
set grid
plot csv using ($2/1000):($3/1048576) skip 1 with lines lw 2 title "used memory (MB)", \
     csv using ($2/1000):4 skip 1 axes x1y2 with lines lw 1 dt 2 title "complete jobs kept"
