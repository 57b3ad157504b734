%% relrun-pod --eval's program: evaluated on the running task's node by
%% erl_eval (pkg/dist's bootstrap), with the binding Args, a proplist:
%%   expr        the expression's text (binary)
%%   lang        1 Erlang (erl_scan/erl_parse/erl_eval), 0 Elixir (Code)
%%   peer        our C node's name (binary): where the output goes
%%   output_max  how much of the expression's output is kept (bytes)
%% What the expression prints goes to an io server of ours (its group
%% leader while it runs), sent to the peer as {relrun_out, Chunk} before the
%% result; its log lines go through the node's logger, into the task's log.
%% The result is what the task's node program gives:
%%   {relrun_ok, Inspected, IsErrorTuple} | {relrun_exit, N, <<>>}
%%   | {relrun_raise, FormattedError}
%% Plain Erlang, so it runs on any BEAM, with Elixir only when lang is 0.
%% (Arg, Lang, Eval, Inspect, FormatError and Cut come from relrun_lang.erl,
%% which the embedded text starts with.)
Max = Arg(output_max),
Peer = binary_to_atom(Arg(peer), utf8),

Text = fun(Enc, Chars) ->
               In = case Enc of latin1 -> latin1; _ -> unicode end,
               case catch unicode:characters_to_binary(Chars, In, utf8) of
                   B when is_binary(B) -> B;
                   _ -> <<>>
               end
       end,
%% The io server: put_chars kept (up to Max bytes), input refused.
Sink = spawn(fun() ->
                     Loop = fun Loop(Acc, Size) ->
                                    receive
                                        {io_request, From, Ref, Req} ->
                                            {Reply, Got} =
                                                case Req of
                                                    {put_chars, Enc, Chars} ->
                                                        {ok, Text(Enc, Chars)};
                                                    {put_chars, Enc, M, F, As} ->
                                                        {ok, Text(Enc, catch apply(M, F, As))};
                                                    {put_chars, Chars} ->
                                                        {ok, Text(latin1, Chars)};
                                                    {setopts, _} -> {ok, <<>>};
                                                    getopts -> {{ok, []}, <<>>};
                                                    _ -> {{error, enotsup}, <<>>}
                                                end,
                                            From ! {io_reply, Ref, Reply},
                                            Keep = Cut(Got, max(Max - Size, 0)),
                                            Loop([Keep | Acc], Size + byte_size(Keep));
                                        {relrun_contents, From} ->
                                            From ! {relrun_contents,
                                                    iolist_to_binary(lists:reverse(Acc))}
                                    end
                            end,
                     Loop([], 0)
             end),

Gl = group_leader(),
group_leader(Sink, self()),
Out = try Eval(Arg(expr)) of
          V -> {relrun_ok, Cut(Inspect(V), 4100), case V of {error, _} -> true; _ -> false end}
      catch
          exit:{shutdown, N} when is_integer(N) -> {relrun_exit, N, <<>>};
          Kind:Reason:Stack -> {relrun_raise, Cut(FormatError(Kind, Reason, Stack), 6000)}
      after
          group_leader(Gl, self())
      end,
Sink ! {relrun_contents, self()},
Printed = receive {relrun_contents, P} -> P after 5000 -> <<>> end,
exit(Sink, kill),
Send = fun Send(<<>>) -> ok;
           Send(B) ->
               S = min(byte_size(B), 4000),
               {relrun, Peer} ! {relrun_out, binary_part(B, 0, S)},
               Send(binary_part(B, S, byte_size(B) - S))
       end,
Send(Printed),
Out.
